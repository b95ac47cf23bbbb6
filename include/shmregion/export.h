/* shmregion: the export macro of the library's public symbols, for C and C++ headers.
 *
 * The shared library is built with -fvisibility=hidden: only what a public header marks
 * SHMREGION_API is exported (the API's functions and classes; never shmregion::detail).
 * For the static library the attribute is harmless. */
#ifndef SHMREGION_EXPORT_H
#define SHMREGION_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define SHMREGION_API __attribute__((visibility("default")))
#else
#define SHMREGION_API
#endif

#endif /* SHMREGION_EXPORT_H */
