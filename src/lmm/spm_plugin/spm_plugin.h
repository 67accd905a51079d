// The C ABI of libhimtok_spm.so, the one place that links SentencePiece.
//
// Why a plugin: Debian's libsentencepiece.so.0 embeds (and exports) its own protobuf-lite 3.14,
// while libtorch pulls in the system libprotobuf 3.21; a process that links both crashes in
// protobuf's static init or aborts in SentencePieceTrainer::Train. lmm/vocab.cpp therefore loads
// this library with dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND), so SentencePiece binds to its
// own protobuf, and nothing else in himtok may include a SentencePiece header or link it.
//
// Conventions:
//   - Fallible calls return 0 (HIMTOK_SPM_OK) or an error code (SentencePiece's util::StatusCode
//     values, or HIMTOK_SPM_ERR_INTERNAL for a C++ exception caught at this edge); on error,
//     when `err` is not NULL, *err is a one-line, NUL-terminated message. No exception crosses.
//   - Every `char**`, `int**` or `err` result is allocated by the plugin; release it with
//     himtok_spm_free. Byte results also give their length (model protos contain NULs).
//   - Ids are SentencePiece piece ids, int32.
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef HIMTOK_SPM_API
#define HIMTOK_SPM_API __attribute__((visibility("default")))
#endif

#define HIMTOK_SPM_ABI_VERSION 1
#define HIMTOK_SPM_OK 0
#define HIMTOK_SPM_ERR_INTERNAL 13  // = util::StatusCode::kInternal

typedef struct himtok_spm himtok_spm;  // a loaded SentencePieceProcessor

HIMTOK_SPM_API int himtok_spm_abi_version(void);  // HIMTOK_SPM_ABI_VERSION the plugin was built with
HIMTOK_SPM_API void himtok_spm_free(void* p);      // frees any buffer the plugin returned; NULL is fine

// SentencePiece's own log threshold (0 INFO, 1 WARNING, 2 ERROR, 3 FATAL).
HIMTOK_SPM_API int himtok_spm_get_min_log_level(void);
HIMTOK_SPM_API void himtok_spm_set_min_log_level(int level);

// Trains with a SentencePieceTrainer command line (`args`, e.g. "--model_type=bpe --vocab_size=2048
// --model_prefix="). Sentences come from `sentences[i]` (lengths[i] bytes each) when n > 0, else
// from the files named by --input in `args`. With out_proto != NULL the ModelProto bytes are
// returned there (and nothing is written to --model_prefix when it is empty).
HIMTOK_SPM_API int himtok_spm_train(const char* args, const char* const* sentences, const size_t* lengths, size_t n,
                                    char** out_proto, size_t* out_len, char** err);

// Loads a serialised ModelProto; *out is NULL on error. Free with himtok_spm_destroy.
HIMTOK_SPM_API int himtok_spm_load(const char* bytes, size_t len, himtok_spm** out, char** err);
HIMTOK_SPM_API void himtok_spm_destroy(himtok_spm* sp);  // NULL is fine

HIMTOK_SPM_API int himtok_spm_serialize(const himtok_spm* sp, char** out, size_t* out_len, char** err);
// text (len bytes) -> ids; no BOS/EOS. *out_ids may be NULL when *out_n is 0.
HIMTOK_SPM_API int himtok_spm_encode(const himtok_spm* sp, const char* text, size_t len, int** out_ids, size_t* out_n,
                                     char** err);
// ids -> text; ids outside [0, piece_size) are an error (kOutOfRange).
HIMTOK_SPM_API int himtok_spm_decode(const himtok_spm* sp, const int* ids, size_t n, char** out_text, size_t* out_len,
                                     char** err);

HIMTOK_SPM_API int himtok_spm_piece_size(const himtok_spm* sp);
// The piece of `id` (NUL-terminated, *len bytes), owned by `sp` and valid until it is destroyed;
// NULL if id is outside [0, piece_size).
HIMTOK_SPM_API const char* himtok_spm_id_to_piece(const himtok_spm* sp, int id, size_t* len);
// The id of `piece` (len bytes); the unk id if it is not a piece, -1 if sp is NULL.
HIMTOK_SPM_API int himtok_spm_piece_to_id(const himtok_spm* sp, const char* piece, size_t len);
// Control ids (-1 when the model has none).
HIMTOK_SPM_API void himtok_spm_control_ids(const himtok_spm* sp, int* unk, int* bos, int* eos, int* pad);
HIMTOK_SPM_API int himtok_spm_is_control(const himtok_spm* sp, int id);  // 1/0; 0 for an id out of range
HIMTOK_SPM_API int himtok_spm_is_unknown(const himtok_spm* sp, int id);  // 1/0; 0 for an id out of range

#ifdef __cplusplus
}  // extern "C"
#endif
