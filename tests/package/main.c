/* A C program that uses linux_ext through a C++ wrapper (shim.cc) and is
   linked by the C compiler: `pkg-config --static --libs linux_ext` must
   bring the C++ runtime along (see run.sh). */

#include <stdio.h>

#include "shim.h"

int main(void) {
  const int ready = linux_ext_shim_wait_eventfd();
  printf("ready events: %d\n", ready);
  return ready == 1 ? 0 : 1;
}
