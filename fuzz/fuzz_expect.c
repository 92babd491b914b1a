/*
 * fuzz_expect.c - the expectation-suite YAML parser. Any suite that parses is also run over
 * a small fixed CSV (with a profile for drift expectations) and rendered as JSON and HTML,
 * so every expectation kind's evaluation sees hostile parameters too.
 */
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "quality/expect.h"
#include "quality/profile.h"
#include "quality/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char CSV[] = "id,age,city,when,score\n"
                          "1,34,Paris,2024-01-02,1.5\n"
                          "2,,Lyon,2024-01-03,x\n"
                          "2,120,,2024-02-01T10:00:00Z,3\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_suite *s = NULL;
    struct kiln_table_reader *r = NULL;
    struct kiln_profile *p = NULL;
    struct kiln_validation *v = NULL;
    struct kiln_buf b;
    if (kiln_suite_parse((const char *)data, size, "fuzz.yaml", &s, NULL) != 0)
        return 0;
    kiln_buf_init(&b, (size_t)16 << 20);
    if (kiln_table_reader_open_mem(CSV, strlen(CSV), "p.csv", NULL, &r, NULL) == 0 &&
        kiln_profile_build(r, NULL, &p, NULL) == 0) {
        kiln_table_reader_free(r);
        r = NULL;
        if (kiln_table_reader_open_mem(CSV, strlen(CSV), "d.csv", NULL, &r, NULL) == 0 &&
            kiln_validate(r, s, p, "p.json", &v, NULL) == 0) {
            kiln_validation_json(v, &b);
            kiln_buf_reset(&b);
            kiln_validation_html(v, &b);
        }
    }
    kiln_buf_reset(&b);
    if (p != NULL)
        kiln_suite_suggest(p, "p.json", &b, NULL);
    kiln_buf_release(&b);
    kiln_validation_free(v);
    kiln_profile_free(p);
    kiln_table_reader_free(r);
    kiln_suite_free(s);
    return 0;
}
