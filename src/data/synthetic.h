// Seeded synthetic binary masks for unlimited stage-1 training data (no libtorch).
// Kinds: ellipses, polygons (convex and star-shaped), smooth blobs (radial Fourier), multi-part
// objects, objects with holes, thin structures (curves, and bodies with thin limbs), and
// border-touching objects (clipped by the frame, at most half of the extent cut off).
// Each mask is a pure function of (seed, index, options): its own random stream, our own RNG
// (masks_rng.h), so item i is reproducible alone and across standard libraries.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/mask.h"

namespace himtok::data {

enum class SyntheticKind { kEllipse, kPolygon, kBlob, kMultiPart, kHoles, kThin, kBorder };
constexpr int kNumSyntheticKinds = 7;
const char* synthetic_kind_name(SyntheticKind kind);

struct SyntheticOptions {
  int64_t h = 256, w = 256;  // frame size
  // Target area as a fraction of the frame: log-uniform in [min, max] when area_balanced (small
  // and large objects equally common per octave), else uniform (large objects dominate).
  bool area_balanced = true;
  double min_area_frac = 0.004;  // 262 px at 256x256
  double max_area_frac = 0.6;
  // No part of an object is thinner than this (px), so there are no slivers.
  double min_thickness = 3.0;
};

struct SyntheticMask {
  Mask mask;                     // binary 0/1, h x w; area within [min, max] area fraction
  SyntheticKind kind;
  double target_area_frac = 0;   // what was asked for (the result is within ~15% unless clamped)
};

// Throws InputError for a bad frame size or area range.
SyntheticMask make_synthetic_mask(uint64_t seed, uint64_t index, const SyntheticOptions& opt = {});

}  // namespace himtok::data
