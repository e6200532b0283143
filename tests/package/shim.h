/* The C interface of tests/package/shim.cc, for main.c. */
#ifndef LINUX_EXT_PACKAGE_SHIM_H_
#define LINUX_EXT_PACKAGE_SHIM_H_

#ifdef __cplusplus
extern "C" {
#endif

/* Creates an Epoll, watches an eventfd that has been written to, waits for
   it and returns how many events the wait reported (1), or -1 on any
   error, which it prints. */
int linux_ext_shim_wait_eventfd(void);

#ifdef __cplusplus
}
#endif

#endif /* LINUX_EXT_PACKAGE_SHIM_H_ */
