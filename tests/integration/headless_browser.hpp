// Renders a local page in headless Chromium (Debian `chromium`) and reads the
// screenshot back, so tests can check what a reader would see.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace why502::testing {

struct Screenshot {
  bool ok = false;
  std::string error;                  // why not, with Chromium's output
  std::vector<std::string> console;   // messages the page logged (errors included)
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;           // width*height*3
  // Pixels of exactly this colour (0xRRGGBB).
  size_t count(uint32_t rgb_colour) const;
  // Pixels that are not white.
  size_t inked() const;
};

// No network: a file:// page, every host name unresolvable. fragment (e.g.
// "#cause=refused") is appended to the page's URL.
Screenshot render_page(const std::string& html_path, const std::string& png_path, int width = 1200, int height = 1600,
                       const std::string& fragment = "");

struct PageDom {
  bool ok = false;
  std::string error;                 // why not, with Chromium's output
  std::vector<std::string> console;  // messages the page logged (errors included)
  std::string html;                  // the DOM once the page's scripts ran, serialised
};

// The page as its scripts left it (Chromium's --dump-dom), in time_zone
// (e.g. "Asia/Kolkata") when given, else the test's own.
PageDom dump_dom(const std::string& html_path, const std::string& fragment = "", const std::string& time_zone = "");

}  // namespace why502::testing
