/* fuzz_job - the input as a zoetrope render job file: load it (structure, every shot's
 * layered settings, names, outputs), then check each shot the way render does before
 * it runs one, and the shard split. */
#include "fuzz_util.h"
#include "pipeline/job.h"

ZT_FUZZ_QUIET_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = zt_fuzz_file(data, size);
    /* outputs are only named, never written: validate checks the directory exists */
    zt_job_options o = {"/tmp", 0, NULL};
    zt_job *job = NULL;
    zt_status rc = zt_job_load(path, &o, &job);
    zt_fuzz_check_message(rc, path);
    ZT_FUZZ_ASSERT((rc == ZT_OK) == (job != NULL), "status %d with job %p", rc, (void *)job);
    for (int i = 0; job && i < job->n; i++) {
        const zt_shot *s = &job->shots[i];
        ZT_FUZZ_ASSERT(s->index == i && s->name[0] && s->s.prompt && s->s.output,
                       "shot %d incomplete", i);
        /* the job loader keeps outputs inside the output directory */
        ZT_FUZZ_ASSERT(!strncmp(s->s.output, "/tmp/", 5) && !strstr(s->s.output, "/../"),
                       "shot '%s' writes '%s'", s->name, s->s.output);
        (void)zt_settings_validate(&s->s);
        int shards = 0;
        for (int k = 1; k <= 3; k++) shards += zt_job_in_shard(i, k, 3);
        ZT_FUZZ_ASSERT(shards == 1, "shot %d falls to %d of 3 shards", i, shards);
    }
    zt_job_free(job);
    return 0;
}
