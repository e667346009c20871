#ifndef OPENEXCHANGE_CZSTD_SHIM_H
#define OPENEXCHANGE_CZSTD_SHIM_H
#include <zstd.h>
#endif
