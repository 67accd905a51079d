// SentencePiece model with the HiMTok special symbols: train, load, verify, encode/decode.
//
// SentencePiece is reached only through the plugin libhimtok_spm.so (lmm/spm_plugin/spm_plugin.h),
// loaded with dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND): Debian's libsentencepiece embeds its
// own protobuf 3.14, which must not bind to libtorch's libprotobuf 3.21 in the same process.
// The plugin is looked for, in order, at:
//   $HIMTOK_SPM_PLUGIN (only there, when set)
//   HIMTOK_SPM_PLUGIN_PATH (the build tree's copy, defined by CMake)
//   <dir of the executable>/libhimtok_spm.so
//   <dir of the executable>/../lib/himtok/libhimtok_spm.so
#include "lmm/vocab.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>
#include <map>

#include "common/error.h"
#include "lmm/spm_plugin/spm_plugin.h"  // declarations only: every call goes through dlsym

namespace himtok::lmm {

const char* const kRefStart = "<ref>";
const char* const kRefEnd = "</ref>";
const char* const kBoxStart = "<box>";
const char* const kBoxEnd = "</box>";
const char* const kQuadStart = "<quad>";
const char* const kQuadEnd = "</quad>";
const char* const kMaskStart = "<|mt_start|>";
const char* const kMaskEnd = "<|mt_end|>";
const char* const kImgStart = "<img>";
const char* const kImgEnd = "</img>";
const char* const kImgContext = "<IMG_CONTEXT>";
const char* const kImStart = "<|im_start|>";
const char* const kImEnd = "<|im_end|>";

std::string mask_token_string(int k) {
  HIMTOK_CHECK_INPUT(k >= 0 && k < kCodebookSize, "mask token ", k, " is out of range, expected 0..", kCodebookSize - 1);
  return "<|mt_" + std::to_string(k) + "|>";
}

std::vector<std::string> special_strings() {
  std::vector<std::string> v = {kRefStart, kRefEnd, kBoxStart, kBoxEnd, kQuadStart, kQuadEnd, kMaskStart, kMaskEnd};
  for (int k = 0; k < kCodebookSize; ++k) v.push_back(mask_token_string(k));
  for (const char* s : {kImgStart, kImgEnd, kImgContext, kImStart, kImEnd}) v.push_back(s);
  return v;
}

// ---------------------------------------------------------------------------------------------
// The plugin: found and loaded once per process, never unloaded.

namespace {

namespace fs = std::filesystem;

constexpr const char* kPluginName = "libhimtok_spm.so";

struct SpmApi {
  decltype(&himtok_spm_abi_version) abi_version = nullptr;
  decltype(&himtok_spm_free) free = nullptr;
  decltype(&himtok_spm_get_min_log_level) get_min_log_level = nullptr;
  decltype(&himtok_spm_set_min_log_level) set_min_log_level = nullptr;
  decltype(&himtok_spm_train) train = nullptr;
  decltype(&himtok_spm_load) load = nullptr;
  decltype(&himtok_spm_destroy) destroy = nullptr;
  decltype(&himtok_spm_serialize) serialize = nullptr;
  decltype(&himtok_spm_encode) encode = nullptr;
  decltype(&himtok_spm_decode) decode = nullptr;
  decltype(&himtok_spm_piece_size) piece_size = nullptr;
  decltype(&himtok_spm_id_to_piece) id_to_piece = nullptr;
  decltype(&himtok_spm_piece_to_id) piece_to_id = nullptr;
  decltype(&himtok_spm_control_ids) control_ids = nullptr;
  decltype(&himtok_spm_is_control) is_control = nullptr;
  decltype(&himtok_spm_is_unknown) is_unknown = nullptr;
};

#if defined(__SANITIZE_ADDRESS__)
// Sanitizer builds (cmake -DHIMTOK_SANITIZE=ON). ASan's dlopen interceptor refuses RTLD_DEEPBIND
// (google/sanitizers#611): a deep-bound library could bind malloc/free to libc's instead of the
// sanitizer's. That cannot happen here: the plugin is built with the same -fsanitize flags, so
// libasan is the first entry of its DT_NEEDED and heads its deep-bind scope, and every allocation
// made in the plugin and in SentencePiece goes through ASan's allocator as usual (and buffers cross
// the boundary only through himtok_spm_free). So the plugin is opened with glibc's own dlopen,
// taken from libc.so.6, not the interceptor; the flags, and the protobuf isolation, are the same.
// Only with GCC's shared runtime (libasan.so loaded): with a runtime linked into the executable
// (clang's default) the plugin's scope would not start with it, so the interceptor decides.
void* dlopen_deepbind(const char* path, int flags) {
  using DlopenFn = void* (*)(const char*, int);
  static const DlopenFn real = []() -> DlopenFn {
    Dl_info where{};
    void* asan_init = dlsym(RTLD_DEFAULT, "__asan_init");
    const bool shared_runtime = asan_init && dladdr(asan_init, &where) && where.dli_fname &&
                                std::string(where.dli_fname).find("libasan") != std::string::npos;
    void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    return shared_runtime && libc ? reinterpret_cast<DlopenFn>(dlsym(libc, "dlopen")) : nullptr;
  }();
  return real ? real(path, flags) : dlopen(path, flags);
}
#else
void* dlopen_deepbind(const char* path, int flags) { return dlopen(path, flags); }
#endif

// Opens `path` and resolves every entry point. Returns "" on success, else why it failed.
std::string open_plugin(const std::string& path, SpmApi* api) {
  dlerror();
  void* h = dlopen_deepbind(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) {
    const char* e = dlerror();
    return e ? e : "dlopen failed";
  }
  std::string missing;
  auto sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
    if (!fn && missing.empty()) missing = name;
  };
  sym(api->abi_version, "himtok_spm_abi_version");
  sym(api->free, "himtok_spm_free");
  sym(api->get_min_log_level, "himtok_spm_get_min_log_level");
  sym(api->set_min_log_level, "himtok_spm_set_min_log_level");
  sym(api->train, "himtok_spm_train");
  sym(api->load, "himtok_spm_load");
  sym(api->destroy, "himtok_spm_destroy");
  sym(api->serialize, "himtok_spm_serialize");
  sym(api->encode, "himtok_spm_encode");
  sym(api->decode, "himtok_spm_decode");
  sym(api->piece_size, "himtok_spm_piece_size");
  sym(api->id_to_piece, "himtok_spm_id_to_piece");
  sym(api->piece_to_id, "himtok_spm_piece_to_id");
  sym(api->control_ids, "himtok_spm_control_ids");
  sym(api->is_control, "himtok_spm_is_control");
  sym(api->is_unknown, "himtok_spm_is_unknown");
  std::string why;
  if (!missing.empty())
    why = "not a himtok SentencePiece plugin (no symbol " + missing + ")";
  else if (api->abi_version() != HIMTOK_SPM_ABI_VERSION)
    why = "plugin ABI version " + std::to_string(api->abi_version()) + ", expected " +
          std::to_string(HIMTOK_SPM_ABI_VERSION) + " (rebuild himtok)";
  if (!why.empty()) {
    dlclose(h);
    *api = {};
  }
  return why;
}

SpmApi find_plugin() {
  SpmApi api;
  if (const char* env = std::getenv("HIMTOK_SPM_PLUGIN"); env && *env) {
    const std::string why = open_plugin(env, &api);
    HIMTOK_CHECK_INPUT(why.empty(), "HIMTOK_SPM_PLUGIN=", env, ": cannot load the SentencePiece plugin: ", why);
    return api;
  }
  std::vector<std::string> candidates;
#ifdef HIMTOK_SPM_PLUGIN_PATH
  candidates.push_back(HIMTOK_SPM_PLUGIN_PATH);
#endif
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back((exe.parent_path() / kPluginName).string());
    candidates.push_back((exe.parent_path() / ".." / "lib" / "himtok" / kPluginName).lexically_normal().string());
  }
  std::string tried;
  for (const auto& path : candidates) {
    if (!fs::is_regular_file(path, ec)) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    const std::string why = open_plugin(path, &api);
    if (why.empty()) return api;
    tried += (tried.empty() ? "" : ", ") + path + " (" + why + ")";
  }
  throw InputError("SentencePiece plugin " + std::string(kPluginName) + " not found or not loadable (tried " + tried +
                   "); set HIMTOK_SPM_PLUGIN to its path");
}

// The plugin's functions; InputError if it cannot be found (retried on the next call).
const SpmApi& spm() {
  static const SpmApi api = find_plugin();
  return api;
}

// A buffer the plugin allocated.
struct PluginFree {
  void operator()(void* p) const { spm().free(p); }
};
template <typename T>
using PluginBuf = std::unique_ptr<T, PluginFree>;

// The plugin's error message (freed here); `code` when it gave none.
std::string take_error(char* err, int code) {
  PluginBuf<char> e(err);
  return e ? std::string(e.get()) : "SentencePiece error code " + std::to_string(code);
}

// A loaded SentencePieceProcessor in the plugin. Calls return the plugin's error as text ("" = ok).
class SpModel {
 public:
  SpModel() = default;
  SpModel(const SpModel&) = delete;
  SpModel& operator=(const SpModel&) = delete;
  ~SpModel() {
    if (h_) spm().destroy(h_);
  }

  std::string load(const std::string& bytes) {
    char* err = nullptr;
    const int rc = spm().load(bytes.data(), bytes.size(), &h_, &err);
    return rc == HIMTOK_SPM_OK ? "" : take_error(err, rc);
  }
  std::string serialized() const {
    char* out = nullptr;
    size_t n = 0;
    char* err = nullptr;
    const int rc = spm().serialize(h_, &out, &n, &err);
    PluginBuf<char> buf(out);
    if (rc != HIMTOK_SPM_OK) throw std::runtime_error("cannot serialise the vocab: " + take_error(err, rc));
    return std::string(buf.get(), n);
  }
  std::string encode(const std::string& text, std::vector<int>* ids) const {
    int* out = nullptr;
    size_t n = 0;
    char* err = nullptr;
    const int rc = spm().encode(h_, text.data(), text.size(), &out, &n, &err);
    PluginBuf<int> buf(out);
    if (rc != HIMTOK_SPM_OK) return take_error(err, rc);
    ids->assign(out, out + n);
    return "";
  }
  std::string decode(const std::vector<int>& ids, std::string* text) const {
    char* out = nullptr;
    size_t n = 0;
    char* err = nullptr;
    const int rc = spm().decode(h_, ids.data(), ids.size(), &out, &n, &err);
    PluginBuf<char> buf(out);
    if (rc != HIMTOK_SPM_OK) return take_error(err, rc);
    text->assign(out, n);
    return "";
  }
  int size() const { return spm().piece_size(h_); }
  int piece_to_id(const std::string& p) const { return spm().piece_to_id(h_, p.data(), p.size()); }
  std::string id_to_piece(int id) const {
    size_t n = 0;
    const char* p = spm().id_to_piece(h_, id, &n);
    return p ? std::string(p, n) : std::string();
  }
  bool is_control(int id) const { return spm().is_control(h_, id) != 0; }
  bool is_unknown(int id) const { return spm().is_unknown(h_, id) != 0; }
  void control_ids(int* unk, int* bos, int* eos, int* pad) const { spm().control_ids(h_, unk, bos, eos, pad); }

 private:
  himtok_spm* h_ = nullptr;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

struct Vocab::Impl {
  SpModel sp;
  SpecialIds ids;
  std::string origin;
  int n = 0;
  // Released tokenizers only: the added-token table, and the same grouped by first byte with the
  // longest first (for the leftmost-longest split).
  bool hf = false, add_bos = false;
  std::map<int, std::string> added_by_id;
  std::unordered_map<std::string, int> added;
  std::vector<std::vector<std::pair<std::string, int>>> by_first = std::vector<std::vector<std::pair<std::string, int>>>(256);
};

Vocab::Vocab() = default;
Vocab::~Vocab() = default;
Vocab::Vocab(Vocab&&) noexcept = default;
Vocab& Vocab::operator=(Vocab&&) noexcept = default;

namespace {

// The ids of the special strings by `id_of` (which raises when one is missing); the mask ids must
// be contiguous.
template <typename IdOf>
void fill_special_ids(SpecialIds* r, const IdOf& id_of, const std::string& origin) {
  r->ref_start = id_of(kRefStart), r->ref_end = id_of(kRefEnd);
  r->box_start = id_of(kBoxStart), r->box_end = id_of(kBoxEnd);
  r->quad_start = id_of(kQuadStart), r->quad_end = id_of(kQuadEnd);
  r->mask_start = id_of(kMaskStart), r->mask_end = id_of(kMaskEnd);
  r->img_start = id_of(kImgStart), r->img_end = id_of(kImgEnd), r->img_context = id_of(kImgContext);
  r->im_start = id_of(kImStart), r->im_end = id_of(kImEnd);
  r->mask0 = id_of(mask_token_string(0));
  for (int k = 1; k < kCodebookSize; ++k) {
    const int id = id_of(mask_token_string(k));
    HIMTOK_CHECK_INPUT(id == r->mask0 + k, origin, ": mask token ids are not contiguous: id('", mask_token_string(k),
                       "') is ", id, ", expected ", r->mask0 + k);
  }
}

// Looks up the special ids and checks that each special string is one piece that encodes to
// itself alone, and that the mask ids are contiguous.
SpecialIds verify_specials(const SpModel& sp, const std::string& origin) {
  SpecialIds r;
  sp.control_ids(&r.unk, &r.bos, &r.eos, &r.pad);
  auto single_id = [&](const std::string& s) {
    const int id = sp.piece_to_id(s);
    std::vector<int> enc;
    const std::string err = sp.encode(s, &enc);
    HIMTOK_CHECK_INPUT(err.empty() && id != r.unk && enc.size() == 1 && enc[0] == id, origin, ": special string '", s,
                       "' is not a single piece (encodes to ", enc.size(),
                       " ids); train the vocabulary with himtok (Vocab::train)");
    return id;
  };
  fill_special_ids(&r, single_id, origin);
  return r;
}

// The corpus as SentencePiece sentences: one per line, empty lines dropped.
std::vector<std::string> corpus_lines(const std::vector<std::string>& corpus) {
  std::vector<std::string> lines;
  for (const auto& s : corpus) {
    std::stringstream ss(s);
    std::string line;
    while (std::getline(ss, line))
      if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace

Vocab Vocab::from_serialized(const std::string& proto_bytes, const std::string& origin) {
  Vocab v;
  v.impl_ = std::make_unique<Impl>();
  const std::string err = v.impl_->sp.load(proto_bytes);
  HIMTOK_CHECK_INPUT(err.empty(), origin, ": not a SentencePiece model (", err, ")");
  v.impl_->origin = origin;
  v.impl_->n = v.impl_->sp.size();
  v.impl_->ids = verify_specials(v.impl_->sp, origin);
  return v;
}

Vocab Vocab::from_added_tokens(const std::string& sp_model_path, const std::vector<std::pair<int, std::string>>& added,
                               bool add_bos, int pad_id, const std::string& origin) {
  HIMTOK_CHECK_INPUT(std::filesystem::is_regular_file(sp_model_path), sp_model_path, ": no such file");
  std::ifstream in(sp_model_path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  Vocab v;
  v.impl_ = std::make_unique<Impl>();
  Impl& m = *v.impl_;
  const std::string err = m.sp.load(ss.str());
  HIMTOK_CHECK_INPUT(err.empty(), sp_model_path, ": not a SentencePiece model (", err, ")");
  m.origin = origin;
  m.hf = true;
  m.add_bos = add_bos;
  m.n = m.sp.size();
  for (const auto& [id, content] : added) {
    HIMTOK_CHECK_INPUT(id >= 0 && !content.empty(), origin, ": added token '", content, "' with id ", id);
    m.added_by_id[id] = content;
    m.added[content] = id;
    m.n = std::max(m.n, id + 1);
  }
  for (const auto& [content, id] : m.added) m.by_first[static_cast<unsigned char>(content[0])].emplace_back(content, id);
  for (auto& group : m.by_first)
    std::stable_sort(group.begin(), group.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  SpecialIds& r = m.ids;
  m.sp.control_ids(&r.unk, &r.bos, &r.eos, &r.pad);
  r.pad = pad_id;
  auto need = [&](const std::string& s) {
    auto it = m.added.find(s);
    HIMTOK_CHECK_INPUT(it != m.added.end(), origin, ": the tokenizer has no added token '", s,
                       "' (not a HiMTok/InternVL2.5 tokenizer: tokenizer_config.json needs added_tokens_decoder)");
    return it->second;
  };
  fill_special_ids(&r, need, origin);
  return v;
}

bool Vocab::adds_bos() const { return impl_ && impl_->add_bos; }

Vocab Vocab::load(const std::string& path) {
  HIMTOK_CHECK_INPUT(std::filesystem::is_regular_file(path), path, ": no such file");
  std::ifstream in(path, std::ios::binary);
  HIMTOK_CHECK_INPUT(in.good(), path, ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return from_serialized(ss.str(), path);
}

Vocab Vocab::train(const std::vector<std::string>& corpus, const VocabTrainOptions& opt) {
  HIMTOK_CHECK_INPUT(opt.model_type == "unigram" || opt.model_type == "bpe", "vocab model type '", opt.model_type,
                     "' is unknown, expected unigram or bpe");
  const int n_specials = static_cast<int>(special_strings().size()) + 4 + 256;
  HIMTOK_CHECK_INPUT(opt.vocab_size > n_specials, "vocab size ", opt.vocab_size, " is too small, expected > ", n_specials,
                     " (specials, control and byte pieces)");
  const std::vector<std::string> lines = corpus_lines(corpus);
  HIMTOK_CHECK_INPUT(!lines.empty(), "vocab corpus is empty");
  std::string symbols;
  for (const auto& s : special_strings()) symbols += (symbols.empty() ? "" : ",") + s;
  std::ostringstream args;
  args << "--model_type=" << opt.model_type << " --vocab_size=" << opt.vocab_size << " --hard_vocab_limit=false"
       << " --user_defined_symbols=" << symbols << " --normalization_rule_name=identity"
       << " --remove_extra_whitespaces=false --add_dummy_prefix=false --byte_fallback=true --split_digits=true"
       << " --character_coverage=1.0 --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=3"
       << " --num_threads=" << std::max(1, opt.n_threads) << " --model_prefix=";
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const auto& l : lines) ptrs.push_back(l.data()), lens.push_back(l.size());

  const SpmApi& api = spm();
  const int old_level = api.get_min_log_level();
  if (!opt.verbose) api.set_min_log_level(2);
  char* proto = nullptr;
  size_t proto_len = 0;
  char* err = nullptr;
  const int rc = api.train(args.str().c_str(), ptrs.data(), lens.data(), ptrs.size(), &proto, &proto_len, &err);
  PluginBuf<char> buf(proto);
  api.set_min_log_level(old_level);
  HIMTOK_CHECK_INPUT(rc == HIMTOK_SPM_OK, "vocab training failed: ", take_error(err, rc));
  return from_serialized(std::string(buf.get(), proto_len), "trained vocab");
}

std::string Vocab::serialized() const {
  if (!impl_) throw std::logic_error("Vocab::serialized on an empty vocab");
  return impl_->sp.serialized();
}

void Vocab::save(const std::string& path) const {
  const std::string bytes = serialized();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    HIMTOK_CHECK_INPUT(out.good(), path, ": cannot write");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    HIMTOK_CHECK_INPUT(out.good(), path, ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  HIMTOK_CHECK_INPUT(!ec, path, ": cannot rename from ", tmp, " (", ec.message(), ")");
}

std::vector<int> Vocab::encode(const std::string& text) const {
  if (!impl_) throw std::logic_error("Vocab::encode on an empty vocab");
  std::vector<int> ids;
  if (!impl_->hf) {
    const std::string err = impl_->sp.encode(text, &ids);
    HIMTOK_CHECK_INPUT(err.empty(), impl_->origin, ": cannot encode text (", err, ")");
    return ids;
  }
  // Released tokenizers: added tokens first (leftmost, then longest), the text between them alone.
  auto encode_chunk = [&](size_t a, size_t b) {
    if (a >= b) return;
    std::vector<int> part;
    const std::string err = impl_->sp.encode(text.substr(a, b - a), &part);
    HIMTOK_CHECK_INPUT(err.empty(), impl_->origin, ": cannot encode text (", err, ")");
    ids.insert(ids.end(), part.begin(), part.end());
  };
  size_t chunk = 0, i = 0;
  while (i < text.size()) {
    const auto& group = impl_->by_first[static_cast<unsigned char>(text[i])];
    const std::pair<std::string, int>* hit = nullptr;
    for (const auto& cand : group)
      if (text.compare(i, cand.first.size(), cand.first) == 0) {
        hit = &cand;
        break;
      }
    if (!hit) {
      ++i;
      continue;
    }
    encode_chunk(chunk, i);
    ids.push_back(hit->second);
    i += hit->first.size();
    chunk = i;
  }
  encode_chunk(chunk, text.size());
  return ids;
}

std::string Vocab::decode(const std::vector<int>& ids) const {
  if (!impl_) throw std::logic_error("Vocab::decode on an empty vocab");
  for (size_t i = 0; i < ids.size(); ++i)
    HIMTOK_CHECK_INPUT(ids[i] >= 0 && ids[i] < impl_->n, impl_->origin, ": token id ", ids[i], " at position ", i,
                       " is out of range, expected 0..", impl_->n - 1);
  auto sp_decode = [&](const std::vector<int>& run) {
    std::string text;
    const std::string err = impl_->sp.decode(run, &text);
    HIMTOK_CHECK_INPUT(err.empty(), impl_->origin, ": cannot decode ids (", err, ")");
    return text;
  };
  if (!impl_->hf) return sp_decode(ids);
  // Released tokenizers: runs of SentencePiece ids decode together; added tokens are their text
  // (the control tokens <unk>, <s>, </s> decode to ""), without the spaces transformers 4.4x puts
  // around them.
  std::string text;
  std::vector<int> run;
  for (int id : ids) {
    auto it = impl_->added_by_id.find(id);
    if (it == impl_->added_by_id.end()) {
      run.push_back(id);
      continue;
    }
    text += sp_decode(run);
    run.clear();
    const auto& s = impl_->ids;
    if (id != s.unk && id != s.bos && id != s.eos) text += it->second;
  }
  return text + sp_decode(run);
}

std::string Vocab::piece(int id) const {
  if (!impl_) throw std::logic_error("Vocab::piece on an empty vocab");
  HIMTOK_CHECK_INPUT(id >= 0 && id < impl_->n, impl_->origin, ": token id ", id, " is out of range, expected 0..",
                     impl_->n - 1);
  if (impl_->hf) {
    auto it = impl_->added_by_id.find(id);
    if (it != impl_->added_by_id.end()) return it->second;
  }
  return impl_->sp.id_to_piece(id);
}

int Vocab::piece_id(const std::string& p) const {
  if (!impl_) throw std::logic_error("Vocab::piece_id on an empty vocab");
  if (impl_->hf) {
    auto it = impl_->added.find(p);
    if (it != impl_->added.end()) return it->second;
  }
  const int id = impl_->sp.piece_to_id(p);
  if (id == impl_->ids.unk && p != impl_->sp.id_to_piece(id)) return -1;
  return id;
}

int Vocab::n_vocab() const { return impl_ ? impl_->n : 0; }

const SpecialIds& Vocab::specials() const {
  if (!impl_) throw std::logic_error("Vocab::specials on an empty vocab");
  return impl_->ids;
}

int Vocab::mask_id(int k) const {
  HIMTOK_CHECK_INPUT(k >= 0 && k < kCodebookSize, "mask token ", k, " is out of range, expected 0..", kCodebookSize - 1);
  return specials().mask0 + k;
}

bool Vocab::is_mask_token(int id) const {
  const int m0 = specials().mask0;
  return id >= m0 && id < m0 + kCodebookSize;
}

int Vocab::mask_code(int id) const { return is_mask_token(id) ? id - specials().mask0 : -1; }

bool Vocab::is_special(int id) const {
  if (!impl_ || id < 0 || id >= impl_->n) return false;
  if (impl_->hf && impl_->added_by_id.count(id)) return true;
  if (id < impl_->sp.size() && (impl_->sp.is_control(id) || impl_->sp.is_unknown(id))) return true;
  const auto& s = impl_->ids;
  if (is_mask_token(id)) return true;
  for (int x : {s.ref_start, s.ref_end, s.box_start, s.box_end, s.quad_start, s.quad_end, s.mask_start, s.mask_end,
                s.img_start, s.img_end, s.img_context, s.im_start, s.im_end})
    if (id == x) return true;
  return false;
}

const std::string& Vocab::origin() const {
  static const std::string kEmpty = "(empty vocab)";
  return impl_ ? impl_->origin : kEmpty;
}

bool Vocab::empty() const { return !impl_; }

}  // namespace himtok::lmm
