/* placeholder until the encode command lands */
#include "cli.h"
int zt_cli_encode(int argc, char **argv) { return zt_cli_usage_error("encode", "not built yet"); }
