/* placeholder until the bench command lands */
#include "cli.h"
int zt_cli_bench(int argc, char **argv) { return zt_cli_usage_error("bench", "not built yet"); }
