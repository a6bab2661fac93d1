/* mod_webot_files.h: schemas, error lists and handlers of the files: presign and upload routes
 * (rows in routes_files.inc). */
#ifndef MOD_WEBOT_FILES_H
#define MOD_WEBOT_FILES_H

#endif
