#include "compress/reducer.hpp"

#include "compress/bytes.hpp"

#include <algorithm>

namespace surgeon::model {

std::vector<std::vector<char>> SingleProcess::gather(int root, const std::vector<char>& part) {
    require_arg(root == 0, "rank " + std::to_string(root) + " is not in a single-process run");
    return {part};
}

void SingleProcess::broadcast(int root, std::vector<char>&) {
    require_arg(root == 0, "rank " + std::to_string(root) + " is not in a single-process run");
}

void agree_on_errors(Reducer& reducer, surgeon_status status, const std::string& message) {
    // Every rank sends its status and message to rank 0, which broadcasts the first failure.
    ByteWriter mine;
    mine.i64(status);
    mine.text(status == SURGEON_OK ? std::string() : message);
    ByteWriter first;
    {
        int64_t failed = -1, code = 0;
        std::string text;
        const std::vector<std::vector<char>> all = reducer.gather(0, mine.buffer());
        for (size_t r = 0; r < all.size() && failed < 0; ++r) {
            ByteReader in(all[r]);
            code = in.i64();
            text = in.text();
            if (code != SURGEON_OK) failed = static_cast<int64_t>(r);
        }
        first.i64(failed < 0 ? 0 : code);
        first.i64(failed);
        first.text(text);
    }
    if (reducer.size() > 1) reducer.broadcast(0, first.buffer());
    ByteReader in(first.buffer());
    const auto code = static_cast<surgeon_status>(in.i64());
    const auto failed = static_cast<int>(in.i64());
    const std::string text = in.text();
    if (code == SURGEON_OK) return;
    throw JobError(code, reducer.size() > 1 ? "rank " + std::to_string(failed) + ": " + text : text, failed);
}

std::pair<surgeon_status, std::string> outcome_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const Error& e) {
        return {e.status(), e.what()};
    } catch (const std::bad_alloc&) {
        return {SURGEON_ERR_OUT_OF_MEMORY, "out of memory"};
    } catch (const std::exception& e) {
        return {SURGEON_ERR_INTERNAL, e.what()};
    } catch (...) {
        return {SURGEON_ERR_INTERNAL, "unknown exception"};
    }
}

std::pair<int64_t, int64_t> share_of(int64_t sequences, int rank, int size) {
    const int64_t base = sequences / size, extra = sequences % size, r = rank;
    const int64_t first = r * base + std::min(r, extra);
    return {first, first + base + (r < extra ? 1 : 0)};
}

}  // namespace surgeon::model
