// libjpeg-turbo (Debian libjpeg62-turbo-dev, via libjpeg-dev); include path from pkg-config "libjpeg".
#include <stdio.h>
#include <jpeglib.h>
