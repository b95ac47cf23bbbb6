// shmregion: shared-memory regions for multi-process databases. Include this, link
// shmregion::shmregion. See docs/architecture.md for the model.
#pragma once

#include <shmregion/error.hpp>
#include <shmregion/options.hpp>
#include <shmregion/region.hpp>
#include <shmregion/version.hpp>  // the version macros and shmregion::version()
