#include "eval/recon.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "eval/codecs.h"
#include "eval/metrics.h"
#include "io/resize.h"
#include "tokenizer/tokenizer.h"

namespace himtok::eval {

std::string ReconRow::to_json() const {
  nlohmann::json j = {{"codec", codec},       {"tokens", tokens},           {"bits", bits},
                      {"n", n},               {"miou_256", miou_256},       {"ciou_256", ciou_256},
                      {"frac_iou90_256", frac_iou90_256}, {"miou_native", miou_native}, {"ciou_native", ciou_native}};
  for (int r = 0; r < 3; ++r) {
    const std::string name = size_range_name(r);
    j["n_" + name] = n_by_size[static_cast<size_t>(r)];
    if (n_by_size[static_cast<size_t>(r)] > 0)
      j["miou_256_" + name] = miou_256_by_size[static_cast<size_t>(r)];
    else
      j["miou_256_" + name] = nullptr;
  }
  return j.dump();
}

SizeRange size_range(int64_t area) {
  if (area < 32 * 32) return kSmall;
  if (area < 96 * 96) return kMedium;
  return kLarge;
}

const char* size_range_name(int r) {
  static const char* names[] = {"small", "medium", "large"};
  return r >= 0 && r < 3 ? names[r] : "?";
}

namespace {

struct Acc {
  ResMetrics m256, native;
  std::array<ResMetrics, 3> m256_by_size;
  int64_t bits = 0;
  // One mask: its decode and target at 256, its decode and ground truth at native size.
  void add(const Mask& pred256, const Mask& target256, const Mask& pred_native, const Mask& gt_native,
           SizeRange size) {
    m256.add(pred256, target256);
    m256_by_size[static_cast<size_t>(size)].add(pred256, target256);
    native.add(pred_native, gt_native);
  }
};

Mask threshold(const FloatMap& f) {
  Mask m(f.h, f.w);
  for (size_t i = 0; i < f.data.size(); ++i) m.data[i] = f.data[i] > 0.5f;
  return m;
}

FloatMap as_float(const Mask& m) {
  FloatMap f(m.h, m.w);
  for (size_t i = 0; i < m.data.size(); ++i) f.data[i] = m.data[i] ? 1.f : 0.f;
  return f;
}

ReconRow finish(const std::string& codec, int64_t tokens, const Acc& a) {
  ReconRow r;
  r.codec = codec;
  r.tokens = tokens;
  r.bits = a.bits;
  r.n = a.m256.n();
  r.miou_256 = a.m256.giou();
  r.ciou_256 = a.m256.ciou();
  r.frac_iou90_256 = a.m256.precision_at(0.9);
  r.miou_native = a.native.giou();
  r.ciou_native = a.native.ciou();
  for (size_t k = 0; k < 3; ++k) {
    r.n_by_size[k] = a.m256_by_size[k].n();
    r.miou_256_by_size[k] = a.m256_by_size[k].giou();
  }
  return r;
}

}  // namespace

ReconResult run_recon(tok::MaskTokenizer* tk, const std::vector<Mask>& masks, const ReconOptions& opt,
                      const std::function<void(int64_t, int64_t)>& progress) {
  HIMTOK_CHECK_INPUT(!masks.empty(), "recon: no masks");
  const int64_t N = static_cast<int64_t>(masks.size());
  std::map<std::pair<std::string, int64_t>, Acc> acc;
  Acc lossless, lossless_input;  // the 256 stretch; the model's input stretch (S != 256)
  ReconResult res;
  std::vector<int64_t> code_hist;
  const int64_t S = tk ? tk->config().image_size : 256;
  const int64_t n_grid = std::min<int64_t>(opt.grid_masks, N);
  for (int64_t b0 = 0; b0 < N; b0 += opt.batch) {
    const int64_t b1 = std::min(N, b0 + opt.batch);
    std::vector<Mask> batch(masks.begin() + b0, masks.begin() + b1);
    std::vector<Mask> target256;
    std::vector<SizeRange> sizes;
    for (auto& m : batch) {
      Mask t = threshold(io::stretch_mask_official(m, 256));
      target256.push_back(t);
      sizes.push_back(size_range(m.area()));
      lossless.add(t, t, io::unstretch_probs_official(as_float(t), m.h, m.w), m, sizes.back());
      if (S != 256) {
        FloatMap in = io::stretch_mask_official(m, S);  // the training target: the soft stretch
        lossless_input.add(threshold(io::interpolate_bilinear(in, 256, 256)), t,
                           io::unstretch_probs_official(in, m.h, m.w), m, sizes.back());
      }
    }
    if (tk) {
      auto ids = tk->encode(batch, tok::Geometry::kStretch);
      if (code_hist.empty()) code_hist.assign(static_cast<size_t>(tk->config().codebook_size), 0);
      for (auto& row : ids)
        for (int64_t id : row) code_hist[static_cast<size_t>(id)]++;
      for (int64_t T : opt.tokens) {
        if (T > tk->config().num_latent_tokens) continue;
        std::vector<std::vector<int64_t>> pre;
        for (auto& row : ids) pre.emplace_back(row.begin(), row.begin() + T);
        auto probs = tk->decode_ids(pre);
        Acc& a = acc[{"himtok", T}];
        a.bits = T * kBitsPerToken;
        for (size_t i = 0; i < batch.size(); ++i) {
          FloatMap p256 = S == 256 ? probs[i] : io::interpolate_bilinear(probs[i], 256, 256);
          Mask pred256 = threshold(p256);
          a.add(pred256, target256[i], io::unstretch_probs_official(probs[i], batch[i].h, batch[i].w), batch[i], sizes[i]);
          int64_t gi = b0 + static_cast<int64_t>(i);
          if (gi < n_grid) {
            if (static_cast<int64_t>(res.grid_decodes.size()) <= gi) {
              res.grid_decodes.resize(static_cast<size_t>(gi + 1));
              res.grid_targets.push_back(target256[i]);
            }
            res.grid_decodes[static_cast<size_t>(gi)].push_back(pred256);
          }
        }
      }
    }
    for (const auto& codec : opt.codecs)
      for (int64_t T : opt.tokens) {
        Acc& a = acc[{codec, T}];
        for (size_t i = 0; i < batch.size(); ++i) {
          CodecResult cr = run_codec(codec, target256[i], static_cast<int>(T * kBitsPerToken));
          a.bits = std::max<int64_t>(a.bits, cr.bits);
          a.add(cr.decoded, target256[i], io::unstretch_probs_official(as_float(cr.decoded), batch[i].h, batch[i].w),
                batch[i], sizes[i]);
        }
      }
    if (progress) progress(b1, N);
  }
  std::vector<std::string> order{"himtok"};
  order.insert(order.end(), opt.codecs.begin(), opt.codecs.end());
  for (auto& c : order)
    for (int64_t T : opt.tokens) {
      auto it = acc.find({c, T});
      if (it != acc.end()) res.rows.push_back(finish(c, T, it->second));
    }
  res.rows.push_back(finish("lossless256", 0, lossless));
  if (S != 256) res.rows.push_back(finish("lossless" + std::to_string(S), 0, lossless_input));
  if (!code_hist.empty()) {
    for (int64_t c : code_hist) res.codes_used += c > 0;
    res.codebook_usage = static_cast<double>(res.codes_used) / static_cast<double>(code_hist.size());
  }
  return res;
}

namespace {

// "small/medium/large" mIoU@256, "-" for a size without masks.
std::string size_cell(const ReconRow& row) {
  std::string cell;
  for (size_t k = 0; k < 3; ++k) {
    char v[16] = "-";
    if (row.n_by_size[k] > 0) std::snprintf(v, sizeof v, "%.2f", row.miou_256_by_size[k]);
    cell += (k ? "/" : "") + std::string(v);
  }
  return cell;
}

// One line of codec names, then one line per token count; each cell is cell(row) right-aligned in
// `width`, or "-" where no row holds that codec and length.
void append_grid(std::string& out, const ReconResult& r, const std::vector<std::string>& codecs,
                 const std::vector<int64_t>& tokens, int width,
                 const std::function<std::string(const ReconRow&)>& cell) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%-7s", "tokens");
  out += buf;
  for (auto& c : codecs) {
    std::snprintf(buf, sizeof buf, " %*s", width, c.c_str());
    out += buf;
  }
  out += "\n";
  for (int64_t T : tokens) {
    std::snprintf(buf, sizeof buf, "%-7lld", static_cast<long long>(T));
    out += buf;
    for (auto& c : codecs) {
      std::string v = "-";
      for (auto& row : r.rows)
        if (row.codec == c && row.tokens == T) v = cell(row);
      std::snprintf(buf, sizeof buf, " %*s", width, v.c_str());
      out += buf;
    }
    out += "\n";
  }
}

}  // namespace

std::string format_recon_table(const ReconResult& r) {
  std::vector<std::string> codecs;
  std::vector<int64_t> tokens;
  for (auto& row : r.rows) {
    if (row.tokens == 0) continue;  // the lossless rows
    if (std::find(codecs.begin(), codecs.end(), row.codec) == codecs.end()) codecs.push_back(row.codec);
    if (std::find(tokens.begin(), tokens.end(), row.tokens) == tokens.end()) tokens.push_back(row.tokens);
  }
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof buf, "mIoU@256 (n=%lld)\n", static_cast<long long>(r.rows.empty() ? 0 : r.rows[0].n));
  out += buf;
  append_grid(out, r, codecs, tokens, 10, [](const ReconRow& row) {
    char v[32];
    std::snprintf(v, sizeof v, "%.3f", row.miou_256);
    return std::string(v);
  });
  // By object size: each cell small / medium / large ("-" where a size has no mask).
  if (!r.rows.empty() && !tokens.empty()) {
    const ReconRow& any = r.rows[0];  // every row counts the same masks
    std::snprintf(buf, sizeof buf,
                  "mIoU@256 by object size (native foreground pixels: small < 32^2 <= medium < 96^2 <= large; n = %lld / %lld / %lld)\n",
                  static_cast<long long>(any.n_by_size[0]), static_cast<long long>(any.n_by_size[1]),
                  static_cast<long long>(any.n_by_size[2]));
    out += buf;
    append_grid(out, r, codecs, tokens, 17, size_cell);
  }
  for (auto& row : r.rows)
    if (row.codec == "lossless256") {
      std::snprintf(buf, sizeof buf, "lossless 256 stretch: mIoU native %.3f (the ceiling at native size)\n", row.miou_native);
      out += buf;
    } else if (row.tokens == 0) {  // losslessS: the model input's ceiling
      const std::string S = row.codec.substr(8);
      std::snprintf(buf, sizeof buf,
                    "lossless %s input (the mask stretched to %sx%s, scored as the decodes): mIoU@256 %.3f, by size %s (the ceiling of this input size)\n",
                    S.c_str(), S.c_str(), S.c_str(), row.miou_256, size_cell(row).c_str());
      out += buf;
    }
  if (r.codes_used > 0) {
    std::snprintf(buf, sizeof buf, "himtok codebook usage: %lld codes (%.1f%%)\n", static_cast<long long>(r.codes_used),
                  100.0 * r.codebook_usage);
    out += buf;
  }
  return out;
}

}  // namespace himtok::eval
