#ifndef FEDMQ_CGMP_SHIM_H
#define FEDMQ_CGMP_SHIM_H

// GMP names its functions through macros (mpz_add is __gmpz_add), which Swift does not
// import: FedMQHomomorphic calls the __gmpz_* functions themselves.
#include <gmp.h>

#endif
