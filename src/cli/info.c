/* placeholder until the info command lands */
#include "cli.h"
int zt_cli_info(int argc, char **argv) { return zt_cli_usage_error("info", "not built yet"); }
