// regiontool dump HOME NAME [--offset O] [--length L]: hex dump of region bytes, read-only.
#include "cli.hpp"

#include <cstdio>

namespace regiontool {

Command dump_command() {
    Command c{"dump", "dump HOME NAME [--offset O] [--length L] [--json]", "hex dump of a region's bytes (read-only)",
              "Prints bytes of region NAME's usable area (what data() points at), from offset O\n"
              "(default 0) for L bytes (default 256; sizes take K, M, G suffixes), as hex and\n"
              "ASCII, 16 bytes a line, with offsets. Reads the file or segment without attaching,\n"
              "locking or writing anything. --json prints {name, offset, length, hex}.\n",
              Spec{{"offset", "length"}, {"json"}, 2, 2}, nullptr};
    c.run = [](const Args& a) {
        const std::uint64_t offset = a.value("offset") ? parse_size(*a.value("offset")) : 0;
        const std::uint64_t length = a.value("length") ? parse_size(*a.value("length")) : 256;
        const auto bytes = shmregion::read_bytes(a.positional[0], a.positional[1], offset, length);
        if (a.flag("json")) {
            static const char digits[] = "0123456789abcdef";
            std::string hex;
            hex.reserve(bytes.size() * 2);
            for (unsigned char b : bytes) {
                hex.push_back(digits[b >> 4]);
                hex.push_back(digits[b & 15]);
            }
            Json j;
            j.begin_object().key("name").value(a.positional[1]).key("offset").value(offset)
                .key("length").value(static_cast<std::uint64_t>(bytes.size())).key("hex").value(hex).end_object();
            std::printf("%s\n", j.str().c_str());
            return kOk;
        }
        for (std::size_t i = 0; i < bytes.size(); i += 16) {
            std::printf("%012llx  ", static_cast<unsigned long long>(offset + i));
            for (std::size_t k = 0; k < 16; ++k) {
                if (i + k < bytes.size()) std::printf("%02x ", bytes[i + k]);
                else std::printf("   ");
                if (k == 7) std::printf(" ");
            }
            std::printf(" |");
            for (std::size_t k = 0; k < 16 && i + k < bytes.size(); ++k) {
                const unsigned char ch = bytes[i + k];
                std::putchar(ch >= 0x20 && ch < 0x7f ? ch : '.');
            }
            std::printf("|\n");
        }
        return kOk;
    };
    return c;
}

}  // namespace regiontool
