// TextTokenizer: what the model commands need of a tokenizer, whichever its file format.
// Tokenizer: the llama2.c tokenizer (tokenizer.bin / tok512.bin), a scored vocabulary of byte strings
// with SentencePiece-style byte fallback. Encoding follows llama2.c's run.c exactly: a
// dummy-prefix space, one token per UTF-8 character (or its bytes as <0xXX> tokens,
// id = byte + 3), then repeated merging of the adjacent pair whose concatenation is the
// best-scoring vocabulary entry (the leftmost pair on ties).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "nn/model.hpp"
#include "nn/perplexity.hpp"

namespace surgeon::model {

// Text to token ids and back. Implemented by the llama2.c tokenizer below and by the
// Hugging Face tokenizer.json reader (io/hf_tokenizer.hpp).
class TextTokenizer {
public:
    virtual ~TextTokenizer() = default;
    // Token ids of `text`; `add_special` adds the tokenizer's own special tokens (BOS and,
    // where configured, EOS).
    virtual std::vector<int> encode(const std::string& text, bool add_special) const = 0;
    // The text of a sequence of ids. Throws SURGEON_ERR_INVALID_ARGUMENT for an id outside
    // the vocabulary.
    virtual std::string decode(const std::vector<int>& ids) const = 0;
    virtual int bos_id() const = 0;  // -1 when the tokenizer has none
    virtual int eos_id() const = 0;  // -1 when the tokenizer has none
    // One past the largest id the tokenizer produces or decodes.
    virtual int64_t vocab_size() const = 0;

protected:
    TextTokenizer() = default;
    TextTokenizer(const TextTokenizer&) = default;
    TextTokenizer& operator=(const TextTokenizer&) = default;
};

class Tokenizer final : public TextTokenizer {
public:
    static constexpr int kUnk = kUnkToken, kBos = kBosToken, kEos = kEosToken;
    static constexpr int kFirstByteToken = 3;  // <0x00>

    // Reads a llama2.c tokenizer file. `vocab_size` > 0 requires exactly that many entries;
    // 0 reads every entry in the file. Throws SURGEON_ERR_IO for a bad or truncated file.
    static Tokenizer load(const std::string& path, int64_t vocab_size = 0);
    // Builds one from pieces and scores (ids are the indices).
    Tokenizer(std::vector<std::string> pieces, std::vector<float> scores);

    std::vector<int> encode(const std::string& text, bool bos, bool eos) const;
    // [BOS] + tokens when add_special.
    std::vector<int> encode(const std::string& text, bool add_special) const override {
        return encode(text, add_special, false);
    }

    // Text of `token` following `prev`: the space after BOS is dropped, byte tokens become
    // their raw byte.
    std::string decode(int prev, int token) const;
    // Concatenated text of a whole sequence (BOS/EOS print nothing).
    std::string decode(const std::vector<int>& tokens) const override;
    int bos_id() const override { return kBos; }
    int eos_id() const override { return kEos; }

    int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
    const std::string& piece(int id) const { return pieces_.at(static_cast<size_t>(id)); }
    float score(int id) const { return scores_.at(static_cast<size_t>(id)); }
    int lookup(const std::string& piece) const;  // -1 when absent

private:
    std::vector<std::string> pieces_;
    std::vector<float> scores_;
    std::unordered_map<std::string, int> ids_;
    bool has_byte_tokens_ = false;  // ids 3..258 are <0x00>..<0xFF>
};

// The whole file as bytes (a text to score or calibrate on, a tokenizer file); throws
// SURGEON_ERR_IO for a directory or a file that cannot be read.
std::string read_text_file(const std::string& path);

// Reads a file of little-endian int32 token ids. Ids must lie in [0, vocab_size) when
// vocab_size > 0. Throws SURGEON_ERR_IO for an unreadable file or a size not a multiple of 4.
std::vector<int> read_token_file(const std::string& path, int64_t vocab_size = 0);
void write_token_file(const std::vector<int>& tokens, const std::string& path);

// encode(p, add_special = true) (for llama2.c: [BOS] + tokens) truncated to seq_len tokens
// for paragraphs [range) of `text` (also the calibration sequences of the pipeline).
std::vector<std::vector<int>> paragraph_sequences(const TextTokenizer& tokenizer, const std::string& text,
                                                  Range range, int64_t seq_len);

}  // namespace surgeon::model
