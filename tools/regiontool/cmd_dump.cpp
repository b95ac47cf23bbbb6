// regiontool dump HOME NAME [--offset O] [--length L]: hex dump of region bytes, read-only.
#include "cli.hpp"

#include <cstdio>

namespace regiontool {

Command dump_command() {
    Command c{"dump", "dump HOME NAME [--offset O] [--length L]", "hex dump of a region's bytes (read-only)",
              "Prints bytes of region NAME's usable area (what data() points at), from offset O\n"
              "(default 0) for L bytes (default 256; sizes take K, M, G suffixes), as hex and\n"
              "ASCII, 16 bytes a line, with offsets. Reads the file or segment without attaching,\n"
              "locking or writing anything.\n",
              Spec{{"offset", "length"}, {}, 2, 2}, nullptr};
    c.run = [](const Args& a) {
        const std::uint64_t offset = a.value("offset") ? parse_size(*a.value("offset")) : 0;
        const std::uint64_t length = a.value("length") ? parse_size(*a.value("length")) : 256;
        const auto bytes = shmregion::read_bytes(a.positional[0], a.positional[1], offset, length);
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
