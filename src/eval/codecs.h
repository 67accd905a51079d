// Non-learned mask codecs at a bit budget: the baselines that `himtok recon` puts next to the
// learned tokenizer at the same number of bits (10 bits per token: 1024 codes). No libtorch.
// Each codec encodes a binary H x W mask (the model geometry: 256 x 256) and decodes it back to
// H x W; `bits` in the result is the exact size of the code it would write (<= the budget).
//   bitmap   k x k bitmap, k = floor(sqrt(bits)); decoded by NEAREST upsampling (PIL's index
//            map); each cell is set so as to maximise IoU (an exact choice: the best prefix of the
//            cells sorted by density).
//   box      bounding box, b = min(floor(bits / 4), ceil(log2(side))) bits per coordinate: edges
//            on a 2^b grid (left/top edge q * side / 2^b, right/bottom edge (q + 1) * side / 2^b,
//            rounded outwards), coordinates chosen to maximise IoU (coordinate descent from the
//            outward-rounded box). Decoded as a filled box; fewer than 4 bits decode to empty.
//   boxgrid  a header, then a box with b bits per coordinate, then a g x g occupancy grid inside
//            it, g = floor(sqrt(bits - header - 4b)); cells chosen as for `bitmap`. The header
//            names b (1..n) and the box: outward-rounded (covers the object) or IoU-optimised
//            (tighter); it has the fewest bits h with 2 n <= 2^h, n = min(8, (bits - h) / 4).
//            With g <= 1 the grid is dropped (the IoU-optimised box alone). Per mask, the best
//            IoU wins (ties: the first). Below 5 bits: the `box` codec.
//   polygon  V = floor(bits / 16) vertices with 8-bit coordinates (x = q * W / 255, likewise y);
//            decoded by filling the pixels whose centre lies inside (even-odd rule). Encoder:
//            the outer contours of the largest parts (up to 4) and of the largest part's holes
//            (up to 2), simplified together to V vertices (Visvalingam) and joined into one
//            ring by zero-width bridges (2 vertices each, invisible to the even-odd fill); the
//            two best starts by IoU plus the IoU-optimal box then go through a local search
//            that moves single vertices by 8/4/2/1 grid steps, then within 5 x 5, while IoU
//            improves; the best result is kept. Fewer than 3 vertices (bits < 48): `box`.
// Reference (coco-fakesegm100, 734 masks, IoU at 256 against the stretched target, this code):
// mIoU at 1/2/4/8/16/32 tokens: bitmap .120/.155/.215/.265/.343/.425, box .151/.498/.708 (8 bits
// per coordinate from 4 tokens on), boxgrid .152/.386/.745/.845/.910/.945, polygon (box below 5
// tokens) .870/.948/.984 at 8/16/32 tokens.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/mask.h"

namespace himtok::eval {

constexpr int kBitsPerToken = 10;  // log2(1024 codes)

struct CodecResult {
  Mask decoded;  // binary 0/1, same size as the input
  int bits = 0;  // exact code size
};

std::vector<std::string> codec_names();  // {"bitmap", "box", "boxgrid", "polygon"}

// Throws InputError for an unknown codec, bits < 1, or an empty / non-binary-sized mask.
CodecResult run_codec(const std::string& name, const Mask& mask, int bits);

CodecResult encode_decode_bitmap(const Mask& mask, int bits);
CodecResult encode_decode_box(const Mask& mask, int bits);
CodecResult encode_decode_boxgrid(const Mask& mask, int bits);
CodecResult encode_decode_polygon(const Mask& mask, int bits);

}  // namespace himtok::eval
