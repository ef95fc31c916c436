/* placeholder */
#include "cli.h"
int zt_cli_t2v(int argc, char **argv) { return zt_cli_usage_error("t2v", "not built yet"); }
int zt_cli_i2v(int argc, char **argv) { return zt_cli_usage_error("i2v", "not built yet"); }
int zt_cli_render(int argc, char **argv) { return zt_cli_usage_error("render", "not built yet"); }
int zt_cli_presets(int argc, char **argv) { return zt_cli_usage_error("presets", "not built yet"); }
int zt_cli_version(int argc, char **argv) { printf("zoetrope %s\n", zt_version()); return 0; }
