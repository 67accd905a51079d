// The LMM response parsers: boxes (the official REC regex), mask spans, yes/no, multiple choice.
// None of them may throw on model output.
#include <cmath>

#include "fuzz_common.h"
#include "lmm/response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace himtok;
  const std::string s = fuzz::as_string(data, size);
  for (const lmm::BoxMatch& m : lmm::find_boxes(s)) {
    if (m.begin > m.end || m.end > s.size()) fuzz::property_failed("box match range");
    if (m.numeric)
      for (double v : m.values)
        if (!std::isfinite(v)) fuzz::property_failed("numeric box not finite");
  }
  (void)lmm::first_box(s);
  auto box = lmm::official_rec_box(s, 640, 480);
  for (double v : box)
    if (std::isnan(v)) fuzz::property_failed("official_rec_box NaN");
  lmm::MaskSpan span = lmm::parse_mask_text(s, 32);
  if (span.codes.size() > 32) fuzz::property_failed("mask span count");
  for (int c : span.codes)
    if (c < 0 || c >= 1024) fuzz::property_failed("mask span code range");
  (void)lmm::parse_yes_no(s);
  const char c = lmm::parse_choice(s);
  if (c != 0 && (c < 'A' || c > 'E')) fuzz::property_failed("parse_choice letter");
  (void)lmm::parse_choice_answer(s);
  return 0;
}
