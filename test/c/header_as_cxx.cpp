// <shmregion/shmregion.h> compiled as C++: it must build without warnings under
// -Wall -Wextra -pedantic and link with C linkage. Called by test_c_api.c.
#include <shmregion/shmregion.h>

#include <cstring>

extern "C" int shmregion_test_header_as_cxx(void);

extern "C" int shmregion_test_header_as_cxx(void) {
    shmregion_options o;
    if (shmregion_options_init(&o) != 0) return 1;
    if (o.struct_size != sizeof o || o.backing != SHMREGION_BACKING_FILE) return 2;
    shmregion_region* r = nullptr;
    o.name = "";  // invalid: attach fails before touching anything
    if (shmregion_attach(&o, &r) != SHMREGION_EINVALID_NAME || r != nullptr) return 3;
    if (std::strlen(shmregion_strerror(SHMREGION_ENOT_FOUND)) == 0) return 4;
    return 0;
}
