// Hugging Face tokenizer.json: the normalizer, pre-tokenizer, BPE model, post-processor and
// decoder of the `tokenizers` library, with its added and special tokens, encoding and
// decoding exactly as it does (docs/models.md, "Tokenizers", lists what is read).
//
// Supported components: normalizers Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD,
// Lowercase, Strip, StripAccents; pre-tokenizers ByteLevel, Split, Metaspace, Digits,
// Punctuation, Whitespace, WhitespaceSplit, Sequence; model BPE (merges as "a b" strings or
// pairs, byte_fallback, unk_token, fuse_unk, ignore_merges, continuing_subword_prefix,
// end_of_word_suffix); post-processors TemplateProcessing, ByteLevel, RobertaProcessing,
// BertProcessing, Sequence; decoders ByteLevel, Replace, ByteFallback, Fuse, Strip,
// Metaspace, Sequence. Any other component type is SURGEON_ERR_UNSUPPORTED naming it.
// Regexes run on PCRE2 (io/regex.hpp); Unicode normalization and character classes on ICU.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/tokenizer.hpp"

namespace surgeon::model {

class HfTokenizer final : public TextTokenizer {
public:
    // Reads a tokenizer.json. When `config_path` names a tokenizer_config.json, its
    // add_bos_token / add_eos_token (where present) decide whether encode(text, true) starts
    // with bos_token and ends with eos_token, as transformers' Llama tokenizers rebuild the
    // template; its bos_token / eos_token name bos_id() / eos_id(). Throws SURGEON_ERR_IO for
    // an unreadable file or malformed JSON, SURGEON_ERR_UNSUPPORTED for a component type
    // this reader does not implement.
    static HfTokenizer load(const std::string& json_path, const std::string& config_path = "");
    // The same from the files' contents; `name` labels error messages.
    static HfTokenizer parse(const std::string& json_text, const std::string& config_text,
                             const std::string& name);

    // `text` must be valid UTF-8 (SURGEON_ERR_INVALID_ARGUMENT naming the byte otherwise).
    std::vector<int> encode(const std::string& text, bool add_special) const override;
    std::string decode(const std::vector<int>& ids) const override;
    int bos_id() const override;
    int eos_id() const override;
    int64_t vocab_size() const override;
    // The id of a vocabulary entry or added token, -1 when absent.
    int token_id(const std::string& token) const;

private:
    struct Impl;
    explicit HfTokenizer(std::shared_ptr<const Impl> impl);
    std::shared_ptr<const Impl> impl_;  // immutable once built, shared by copies
};

// The tokenizer in a file of either kind: a Hugging Face tokenizer.json (with the
// tokenizer_config.json beside it, when there is one) or a llama2.c tokenizer.bin. With
// `vocab_size` > 0 every id the tokenizer produces must fit the model's vocabulary
// (SURGEON_ERR_IO otherwise).
std::unique_ptr<TextTokenizer> open_tokenizer(const std::string& path, int64_t vocab_size = 0);

// A model's own tokenizer: tokenizer.json in the model's directory (or beside a model file),
// else the llama2.c tokenizer find_tokenizer_beside finds; "" when there is none.
std::string find_model_tokenizer(const std::string& model_path, int64_t vocab_size);

}  // namespace surgeon::model
