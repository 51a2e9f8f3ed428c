// Rows of a list command (ps, images, history) printed through docker's
// --format: a "table ..." template gives an aligned table with a header
// row, any other one line per row; {{json .}} gives a row as JSON.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace berth::cli {

// One row: field name -> text, in docker's naming ("ID", "Image", ...).
using Row = std::map<std::string, std::string>;

// Prints rows through format. headers: the header text of each field
// (others are their name in capitals); context_type: docker's Go type the
// fields belong to, for its error message about an unknown field
// ("*formatter.ContainerContext"). Returns the exit code.
int print_rows(const std::string& format, const std::vector<Row>& rows,
               const std::map<std::string, std::string>& headers, const char* context_type);

}  // namespace berth::cli
