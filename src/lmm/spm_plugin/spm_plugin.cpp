// libhimtok_spm.so: SentencePiece behind the C ABI of spm_plugin.h (see there for why). The only
// file in himtok that includes a SentencePiece header; every entry point catches at this edge.
#include "lmm/spm_plugin/spm_plugin.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

// Exported by libsentencepiece but not declared in its public headers (0.1.97).
namespace sentencepiece::logging {
int GetMinLogLevel();
void SetMinLogLevel(int v);
}  // namespace sentencepiece::logging

struct himtok_spm {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

// malloc'd copy of `n` bytes plus a NUL (so text results are C strings too); NULL if out of memory.
char* copy_bytes(const char* data, size_t n) {
  char* p = static_cast<char*>(std::malloc(n + 1));
  if (!p) return nullptr;
  if (n) std::memcpy(p, data, n);
  p[n] = '\0';
  return p;
}

int fail(int code, const std::string& msg, char** err) {
  if (err) {
    // One line: SentencePiece messages may carry a newline.
    std::string line = msg;
    for (char& c : line)
      if (c == '\n' || c == '\r') c = ' ';
    *err = copy_bytes(line.data(), line.size());
  }
  return code;
}

int fail_status(const sentencepiece::util::Status& st, char** err) {
  const int code = static_cast<int>(st.code());
  return fail(code == 0 ? HIMTOK_SPM_ERR_INTERNAL : code, st.ToString(), err);
}

// Runs `body` (returns an error code) and turns any C++ exception into HIMTOK_SPM_ERR_INTERNAL.
template <typename F>
int guarded(const char* what, char** err, F&& body) {
  if (err) *err = nullptr;
  try {
    return body();
  } catch (const std::exception& e) {
    return fail(HIMTOK_SPM_ERR_INTERNAL, std::string(what) + ": " + e.what(), err);
  } catch (...) {
    return fail(HIMTOK_SPM_ERR_INTERNAL, std::string(what) + ": unknown exception", err);
  }
}

int return_bytes(const std::string& s, char** out, size_t* out_len, char** err) {
  *out = copy_bytes(s.data(), s.size());
  if (!*out) return fail(HIMTOK_SPM_ERR_INTERNAL, "out of memory", err);
  if (out_len) *out_len = s.size();
  return HIMTOK_SPM_OK;
}

class ArrayIterator : public sentencepiece::SentenceIterator {
 public:
  ArrayIterator(const char* const* s, const size_t* len, size_t n) : s_(s), len_(len), n_(n) { load(); }
  bool done() const override { return i_ >= n_; }
  void Next() override {
    ++i_;
    load();
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void load() {
    if (i_ < n_) value_.assign(s_[i_], len_[i_]);
  }
  const char* const* s_;
  const size_t* len_;
  size_t n_, i_ = 0;
  std::string value_;
};

bool in_range(const himtok_spm* sp, int id) { return sp && id >= 0 && id < sp->sp.GetPieceSize(); }

}  // namespace

extern "C" {

int himtok_spm_abi_version(void) { return HIMTOK_SPM_ABI_VERSION; }

void himtok_spm_free(void* p) { std::free(p); }

int himtok_spm_get_min_log_level(void) { return sentencepiece::logging::GetMinLogLevel(); }

void himtok_spm_set_min_log_level(int level) { sentencepiece::logging::SetMinLogLevel(level); }

int himtok_spm_train(const char* args, const char* const* sentences, const size_t* lengths, size_t n,
                     char** out_proto, size_t* out_len, char** err) {
  return guarded("himtok_spm_train", err, [&] {
    if (!args || (n > 0 && (!sentences || !lengths))) return fail(3 /*kInvalidArgument*/, "null argument", err);
    std::string proto;
    sentencepiece::util::Status st;
    if (n > 0) {
      ArrayIterator it(sentences, lengths, n);
      st = sentencepiece::SentencePieceTrainer::Train(args, &it, out_proto ? &proto : nullptr);
    } else {
      st = sentencepiece::SentencePieceTrainer::Train(args, nullptr, out_proto ? &proto : nullptr);
    }
    if (!st.ok()) return fail_status(st, err);
    return out_proto ? return_bytes(proto, out_proto, out_len, err) : HIMTOK_SPM_OK;
  });
}

int himtok_spm_load(const char* bytes, size_t len, himtok_spm** out, char** err) {
  if (out) *out = nullptr;
  return guarded("himtok_spm_load", err, [&] {
    if (!out || (!bytes && len > 0)) return fail(3, "null argument", err);
    auto* h = new himtok_spm;
    const auto st = h->sp.LoadFromSerializedProto(std::string_view(bytes ? bytes : "", len));
    if (!st.ok()) {
      delete h;
      return fail_status(st, err);
    }
    *out = h;
    return HIMTOK_SPM_OK;
  });
}

void himtok_spm_destroy(himtok_spm* sp) { delete sp; }

int himtok_spm_serialize(const himtok_spm* sp, char** out, size_t* out_len, char** err) {
  return guarded("himtok_spm_serialize", err, [&] {
    if (!sp || !out) return fail(3, "null argument", err);
    return return_bytes(sp->sp.serialized_model_proto(), out, out_len, err);
  });
}

int himtok_spm_encode(const himtok_spm* sp, const char* text, size_t len, int** out_ids, size_t* out_n,
                      char** err) {
  if (out_ids) *out_ids = nullptr;
  if (out_n) *out_n = 0;
  return guarded("himtok_spm_encode", err, [&] {
    if (!sp || !out_ids || !out_n || (!text && len > 0)) return fail(3, "null argument", err);
    std::vector<int> ids;
    const auto st = sp->sp.Encode(std::string_view(text ? text : "", len), &ids);
    if (!st.ok()) return fail_status(st, err);
    if (!ids.empty()) {
      *out_ids = static_cast<int*>(std::malloc(ids.size() * sizeof(int)));
      if (!*out_ids) return fail(HIMTOK_SPM_ERR_INTERNAL, "out of memory", err);
      std::memcpy(*out_ids, ids.data(), ids.size() * sizeof(int));
    }
    *out_n = ids.size();
    return HIMTOK_SPM_OK;
  });
}

int himtok_spm_decode(const himtok_spm* sp, const int* ids, size_t n, char** out_text, size_t* out_len,
                      char** err) {
  if (out_text) *out_text = nullptr;
  return guarded("himtok_spm_decode", err, [&] {
    if (!sp || !out_text || (!ids && n > 0)) return fail(3, "null argument", err);
    for (size_t i = 0; i < n; ++i)
      if (!in_range(sp, ids[i]))
        return fail(11 /*kOutOfRange*/,
                    "token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) + " is out of range",
                    err);
    std::string text;
    const auto st = sp->sp.Decode(std::vector<int>(ids, ids + n), &text);
    if (!st.ok()) return fail_status(st, err);
    return return_bytes(text, out_text, out_len, err);
  });
}

int himtok_spm_piece_size(const himtok_spm* sp) { return sp ? sp->sp.GetPieceSize() : 0; }

const char* himtok_spm_id_to_piece(const himtok_spm* sp, int id, size_t* len) {
  if (!in_range(sp, id)) return nullptr;
  const std::string& p = sp->sp.IdToPiece(id);  // a reference into the model proto
  if (len) *len = p.size();
  return p.c_str();
}

int himtok_spm_piece_to_id(const himtok_spm* sp, const char* piece, size_t len) {
  if (!sp) return -1;
  try {
    return sp->sp.PieceToId(std::string_view(piece ? piece : "", piece ? len : 0));
  } catch (...) {  // not expected (a hash lookup); nothing may cross the C ABI
    return -1;
  }
}

void himtok_spm_control_ids(const himtok_spm* sp, int* unk, int* bos, int* eos, int* pad) {
  if (unk) *unk = sp ? sp->sp.unk_id() : -1;
  if (bos) *bos = sp ? sp->sp.bos_id() : -1;
  if (eos) *eos = sp ? sp->sp.eos_id() : -1;
  if (pad) *pad = sp ? sp->sp.pad_id() : -1;
}

int himtok_spm_is_control(const himtok_spm* sp, int id) { return in_range(sp, id) && sp->sp.IsControl(id) ? 1 : 0; }

int himtok_spm_is_unknown(const himtok_spm* sp, int id) { return in_range(sp, id) && sp->sp.IsUnknown(id) ? 1 : 0; }

}  // extern "C"
