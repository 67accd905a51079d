// stb_image compiled here, instrumented like the rest of the fuzz build, instead of Debian's
// uninstrumented libstb.so: libFuzzer then sees the decoder's coverage and ASan its memory bugs.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
