/* log.h - leveled logging through a replaceable sink (stderr by default). */
#ifndef ZT_LOG_H
#define ZT_LOG_H

#include "zoetrope.h"

void zt_log(zt_log_level level, const char *fmt, ...) ZT_PRINTF(2, 3);
int zt_log_enabled(zt_log_level level);

#define ZT_LOGE(...) zt_log(ZT_LOG_ERROR, __VA_ARGS__)
#define ZT_LOGW(...) zt_log(ZT_LOG_WARN, __VA_ARGS__)
#define ZT_LOGI(...) zt_log(ZT_LOG_INFO, __VA_ARGS__)
#define ZT_LOGD(...) zt_log(ZT_LOG_DEBUG, __VA_ARGS__)

#endif
