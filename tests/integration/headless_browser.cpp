#include "headless_browser.hpp"

#include <zlib.h>

#include <fstream>
#include <sstream>

#include "child_process.hpp"

namespace why502::testing {
namespace {

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// 8-bit RGB or RGBA, not interlaced: what Chromium writes.
std::string decode_png(const std::string& bytes, Screenshot& shot) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < 8 || bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return "not a PNG";
  size_t at = 8;
  int channels = 0;
  std::string idat;
  while (at + 12 <= bytes.size()) {
    const uint32_t len = be32(p + at);
    const std::string type = bytes.substr(at + 4, 4);
    if (at + 12 + len > bytes.size()) return "PNG chunk runs past the end";
    const uint8_t* data = p + at + 8;
    if (type == "IHDR") {
      shot.width = static_cast<int>(be32(data));
      shot.height = static_cast<int>(be32(data + 4));
      if (data[8] != 8 || data[12] != 0) return "PNG is not 8-bit non-interlaced";
      channels = data[9] == 2 ? 3 : data[9] == 6 ? 4 : 0;
      if (!channels) return "PNG colour type " + std::to_string(data[9]) + " not handled";
    } else if (type == "IDAT") {
      idat.append(reinterpret_cast<const char*>(data), len);
    }
    at += 12 + len;
  }
  const size_t stride = static_cast<size_t>(shot.width) * channels;
  std::vector<uint8_t> raw((stride + 1) * static_cast<size_t>(shot.height));
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK ||
      raw_len != raw.size())
    return "PNG image data does not inflate";
  std::vector<uint8_t> previous(stride, 0), row(stride);
  shot.rgb.reserve(static_cast<size_t>(shot.width) * shot.height * 3);
  for (int y = 0; y < shot.height; ++y) {
    const uint8_t filter = raw[y * (stride + 1)];
    const uint8_t* in = &raw[y * (stride + 1) + 1];
    for (size_t x = 0; x < stride; ++x) {
      const int a = x >= static_cast<size_t>(channels) ? row[x - channels] : 0;
      const int b = previous[x];
      const int c = x >= static_cast<size_t>(channels) ? previous[x - channels] : 0;
      int predicted = 0;
      switch (filter) {
        case 0: break;
        case 1: predicted = a; break;
        case 2: predicted = b; break;
        case 3: predicted = (a + b) / 2; break;
        case 4: predicted = paeth(a, b, c); break;
        default: return "PNG filter " + std::to_string(filter) + " is not valid";
      }
      row[x] = static_cast<uint8_t>(in[x] + predicted);
    }
    for (int x = 0; x < shot.width; ++x)
      for (int k = 0; k < 3; ++k) shot.rgb.push_back(row[static_cast<size_t>(x) * channels + k]);
    previous.swap(row);
  }
  return "";
}

// Chromium with no network, no background traffic and a throwaway profile;
// what it prints to stderr includes a ":CONSOLE" line per console message.
std::vector<std::string> chromium(const std::string& profile, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      "chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
      "--host-resolver-rules=MAP * ~NOTFOUND", "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::string> console_lines(const std::string& output) {
  std::vector<std::string> console;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);)
    if (line.find(":CONSOLE") != std::string::npos) console.push_back(line);
  return console;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

size_t Screenshot::count(uint32_t colour) const {
  size_t n = 0;
  for (size_t i = 0; i + 2 < rgb.size(); i += 3)
    if ((uint32_t(rgb[i]) << 16 | uint32_t(rgb[i + 1]) << 8 | rgb[i + 2]) == colour) ++n;
  return n;
}

size_t Screenshot::inked() const { return rgb.size() / 3 - count(0xffffff); }

Screenshot render_page(const std::string& html_path, const std::string& png_path, int width, int height,
                       const std::string& fragment) {
  Screenshot shot;
  int status = 0;
  const std::string profile = png_path + ".profile";
  std::vector<std::string> argv = {"timeout", "60"};
  for (std::string& arg : chromium(profile, {"--window-size=" + std::to_string(width) + "," + std::to_string(height),
                                             "--screenshot=" + png_path, "file://" + html_path + fragment}))
    argv.push_back(std::move(arg));
  const std::string out = run_command(argv, &status);
  run_command({"rm", "-rf", profile});
  shot.console = console_lines(out);
  const std::string bytes = read_all(png_path);
  if (status != 0 || bytes.empty()) {
    shot.error = "chromium exited " + std::to_string(status) + ": " + out;
    return shot;
  }
  shot.error = decode_png(bytes, shot);
  shot.ok = shot.error.empty();
  return shot;
}

PageDom dump_dom(const std::string& html_path, const std::string& fragment, const std::string& time_zone) {
  PageDom page;
  int status = 0;
  const std::string dom_path = html_path + ".dom", profile = html_path + ".profile";
  // The DOM goes to stdout, the log to stderr: the shell keeps them apart ($0 is where the DOM goes).
  std::vector<std::string> argv = {"sh", "-c", "exec \"$@\" >\"$0\"", dom_path, "env"};
  if (!time_zone.empty()) argv.push_back("TZ=" + time_zone);
  argv.insert(argv.end(), {"timeout", "60"});
  for (std::string& arg : chromium(profile, {"--dump-dom", "file://" + html_path + fragment}))
    argv.push_back(std::move(arg));
  const std::string out = run_command(argv, &status);
  run_command({"rm", "-rf", profile});
  page.console = console_lines(out);
  page.html = read_all(dom_path);
  if (status != 0 || page.html.find("</html>") == std::string::npos) {
    page.error = "chromium exited " + std::to_string(status) + ": " + out;
    return page;
  }
  page.ok = true;
  return page;
}

}  // namespace why502::testing
