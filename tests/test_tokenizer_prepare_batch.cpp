// The batched stretch geometry of MaskTokenizer::encode (tokenizer/prepare.h): masks of any size
// stretched on several threads into one 8-bit buffer, then made float, give bit for bit the input
// of the one-mask-at-a-time path (prepare_stretch, whose PIL equality test_io_resize checks), and
// bad masks are an InputError before any thread starts.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <vector>

#include "common/error.h"
#include "shipped_models.h"
#include "tokenizer/prepare.h"

namespace {

using namespace himtok;

std::vector<Mask> mixed_masks() {
  std::vector<Mask> masks = test::first_coco_eval_masks(24);  // COCO image sizes, binary
  Mask gray(37, 300);                                          // 8-bit, strongly anisotropic
  for (int64_t i = 0; i < gray.h * gray.w; ++i) gray.data[i] = static_cast<uint8_t>((i * 37) % 251);
  masks.push_back(gray);
  Mask same(256, 256);  // the model's size: PIL copies it
  for (int64_t i = 0; i < 256 * 256; ++i) same.data[i] = (i / 256 + i % 256) % 3 == 0;
  masks.push_back(same);
  Mask dot(1, 1);
  dot.data[0] = 1;
  masks.push_back(dot);
  return masks;
}

TEST(TokenizerPrepareBatch, ThreadedU8StretchEqualsPrepareStretchBitForBit) {
  const std::vector<Mask> masks = mixed_masks();
  ASSERT_GT(masks[0].h * masks[0].w, 256 * 256 / 2);  // real COCO sizes, not already 256x256
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  const at::Tensor u8 = tok::stretch_batch_u8(masks, 256);
  at::set_num_threads(before);
  ASSERT_EQ(u8.sizes(), (at::IntArrayRef{static_cast<int64_t>(masks.size()), 256, 256}));
  const at::Tensor x = tok::u8_to_input(u8);
  ASSERT_EQ(x.sizes(), (at::IntArrayRef{static_cast<int64_t>(masks.size()), 3, 256, 256}));
  ASSERT_EQ(x.scalar_type(), at::kFloat);
  for (size_t b = 0; b < masks.size(); ++b)
    EXPECT_TRUE(at::equal(x[static_cast<int64_t>(b)], tok::prepare_stretch(masks[b], 256))) << "mask " << b;
  // Not a constant image: the stretched COCO masks hold both values and soft edges.
  EXPECT_GT(u8[0].max().item<int>(), 250);
  EXPECT_EQ(u8[0].min().item<int>(), 0);
}

TEST(TokenizerPrepareBatch, BadMasksAreInputErrors) {
  std::vector<Mask> masks = test::first_coco_eval_masks(3);
  masks[1] = Mask();  // empty, in the middle
  EXPECT_THROW(tok::stretch_batch_u8(masks, 256), InputError);
  masks[1] = Mask(4, 4);
  masks[1].data.resize(7);  // size disagrees with h x w
  EXPECT_THROW(tok::stretch_batch_u8(masks, 256), InputError);
}

}  // namespace
