/* Test-only harness: drives the real libsss_idmap with commands read from
 * stdin and prints its answers, one line per command, for the Rust test
 * sss_compat.rs to compare with roster's implementation.
 *
 * Commands:
 *   init LOWER UPPER SIZE AUTORID EXTRA   new context         -> "init RC"
 *   add NAME DOMAIN-SID                   calculate_range +
 *                                         add_auto_domain_ex  -> "add RC MIN MAX"
 *   s2u SID                               sss_idmap_sid_to_unix -> "s2u RC ID"
 *   u2s ID                                sss_idmap_unix_to_sid -> "u2s RC SID"
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sss_idmap.h>

int main(void)
{
    struct sss_idmap_ctx *ctx = NULL;
    char line[4096];
    char a[2048], b[2048];

    while (fgets(line, sizeof(line), stdin) != NULL) {
        if (strncmp(line, "init ", 5) == 0) {
            unsigned long lower, upper, size;
            int autorid, extra;
            enum idmap_error_code rc;
            if (sscanf(line + 5, "%lu %lu %lu %d %d", &lower, &upper, &size,
                       &autorid, &extra) != 5) {
                fprintf(stderr, "bad init line: %s", line);
                return 2;
            }
            if (ctx != NULL) {
                sss_idmap_free(ctx);
                ctx = NULL;
            }
            rc = sss_idmap_init(NULL, NULL, NULL, &ctx);
            if (rc == IDMAP_SUCCESS) rc = sss_idmap_ctx_set_lower(ctx, (id_t)lower);
            if (rc == IDMAP_SUCCESS) rc = sss_idmap_ctx_set_upper(ctx, (id_t)upper);
            if (rc == IDMAP_SUCCESS) rc = sss_idmap_ctx_set_rangesize(ctx, (id_t)size);
            if (rc == IDMAP_SUCCESS) rc = sss_idmap_ctx_set_autorid(ctx, autorid != 0);
            if (rc == IDMAP_SUCCESS) rc = sss_idmap_ctx_set_extra_slice_init(ctx, extra);
            printf("init %d\n", (int)rc);
        } else if (strncmp(line, "add ", 4) == 0) {
            struct sss_idmap_range range = { 0, 0 };
            id_t slice = (id_t)-1;
            enum idmap_error_code rc;
            if (sscanf(line + 4, "%2047s %2047s", a, b) != 2) {
                fprintf(stderr, "bad add line: %s", line);
                return 2;
            }
            /* What SSSD's sdap_idmap_add_domain does. */
            rc = sss_idmap_calculate_range(ctx, b, &slice, &range);
            if (rc == IDMAP_SUCCESS) {
                rc = sss_idmap_add_auto_domain_ex(ctx, a, b, &range, NULL, 0,
                                                  false, NULL, NULL);
            }
            if (rc == IDMAP_SUCCESS) {
                printf("add 0 %u %u\n", range.min, range.max);
            } else {
                printf("add %d 0 0\n", (int)rc);
            }
        } else if (strncmp(line, "s2u ", 4) == 0) {
            uint32_t id = 0;
            enum idmap_error_code rc;
            if (sscanf(line + 4, "%2047s", a) != 1) {
                fprintf(stderr, "bad s2u line: %s", line);
                return 2;
            }
            rc = sss_idmap_sid_to_unix(ctx, a, &id);
            printf("s2u %d %u\n", (int)rc, rc == IDMAP_SUCCESS ? id : 0);
        } else if (strncmp(line, "u2s ", 4) == 0) {
            unsigned long id;
            char *sid = NULL;
            enum idmap_error_code rc;
            if (sscanf(line + 4, "%lu", &id) != 1) {
                fprintf(stderr, "bad u2s line: %s", line);
                return 2;
            }
            rc = sss_idmap_unix_to_sid(ctx, (uint32_t)id, &sid);
            printf("u2s %d %s\n", (int)rc, rc == IDMAP_SUCCESS ? sid : "-");
            if (sid != NULL) {
                sss_idmap_free_sid(ctx, sid);
            }
        } else {
            fprintf(stderr, "unknown command: %s", line);
            return 2;
        }
    }
    if (ctx != NULL) {
        sss_idmap_free(ctx);
    }
    return 0;
}
