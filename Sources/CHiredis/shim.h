#ifndef OPENEXCHANGE_CHIREDIS_SHIM_H
#define OPENEXCHANGE_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
