/*
 * fuzz_table.c - the CSV / JSON Lines reader. The first input byte picks the format
 * (even: CSV, odd: JSON Lines), the delimiter (',', ';', '\t', '|') and no-header; the rest is
 * the file. Every row is read and summarised into a profile, so the number parser and the
 * column summaries see the cells too. Readers must never crash or leak, whatever the bytes.
 */
#include <stdint.h>
#include <string.h>

#include "quality/profile.h"
#include "quality/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char delims[] = { ',', ';', '\t', '|' };
    struct kiln_table_opts o;
    struct kiln_table_reader *r = NULL;
    struct kiln_profile *p = NULL;
    if (size == 0)
        return 0;
    memset(&o, 0, sizeof(o));
    o.format = (data[0] & 1) ? KILN_TABLE_JSONL : KILN_TABLE_CSV;
    o.delimiter = delims[(data[0] >> 1) & 3];
    o.no_header = (data[0] >> 3) & 1;
    o.max_record = 1 << 16;
    o.max_cols = 256;
    if (kiln_table_reader_open_mem(data + 1, size - 1, "fuzz", &o, &r, NULL) == 0) {
        if (kiln_profile_build(r, NULL, &p, NULL) == 0) {
            struct kiln_buf b;
            kiln_buf_init(&b, (size_t)16 << 20);
            kiln_profile_to_json(p, &b, NULL);
            kiln_buf_release(&b);
        }
    }
    kiln_profile_free(p);
    kiln_table_reader_free(r);
    return 0;
}
