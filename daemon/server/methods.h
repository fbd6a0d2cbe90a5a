/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * methods.h: the Varlink method table of io.ckptd and org.varlink.service
 * (methods.c), and the checkpoint and delete jobs the scheduler starts as the
 * methods do. methods_table is what main.c gives the manager
 * (manager_options.methods).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "manager.h"
#include "server.h"

struct checkpoint_request;
struct checkpoint_group_request;

extern const struct manager_methods methods_table;

/* The server's dispatch callback; userdata is the manager. */
void methods_dispatch(struct call *c, const char *method, struct json_object *params,
                      void *userdata);

/* Jobs that answer call c when it ends; c may be NULL (nobody to answer). */
int methods_submit_checkpoint(struct manager *m, struct call *c,
                              const struct checkpoint_request *req);
int methods_submit_group(struct manager *m, struct call *c,
                         const struct checkpoint_group_request *req);
void methods_submit_delete(struct manager *m, struct call *c, uint64_t id, pid_t pid);
