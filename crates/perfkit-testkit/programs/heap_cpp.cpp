// A C++ program whose allocation sites are methods in a namespace, reached through operator
// new[] and a std::vector's growth, for heap profiles to name in C++ rather than mangled.
// ledger::Book::grow holds 8 MiB until exit.
#include <cstdio>
#include <memory>
#include <vector>

namespace ledger {

struct Book {
    std::vector<std::unique_ptr<char[]>> pages;

    __attribute__((noinline)) void grow(std::size_t count, std::size_t size) {
        for (std::size_t i = 0; i < count; i++) {
            pages.emplace_back(new char[size]);
            pages.back()[0] = static_cast<char>(i);
        }
    }
};

}  // namespace ledger

int main() {
    ledger::Book book;
    book.grow(2048, 4096);
    std::printf("%zu pages\n", book.pages.size());
    return 0;
}
