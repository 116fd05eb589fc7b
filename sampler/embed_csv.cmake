# cmake -DIN=<csv> -DOUT=<cpp> -P embed_csv.cmake: the CSV as a string_view.
file(READ ${IN} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${content}")
file(WRITE ${OUT} "// Generated from ${IN}: do not edit.\n#include <string_view>\n#include \"cinergy/sampler/specpower.hpp\"\n"
  "namespace cinergy::sampler {\nnamespace { constexpr char kCsv[] = {${bytes} '\\0'}; }\n"
  "std::string_view embedded_specpower_csv() { return {kCsv, sizeof kCsv - 1}; }\n}\n")
