// Test helpers: render a page in headless Chromium (offline) and read the PNG screenshot.
#ifndef GORETAIN_TESTS_TESTING_BROWSER_H_
#define GORETAIN_TESTS_TESTING_BROWSER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace goretain::testing {

struct Rgb {
  int r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  Rgb At(int x, int y) const {
    const uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
    return {p[0], p[1], p[2]};
  }
};

// Decodes a PNG; an empty image (and a test failure) when it cannot.
Image ReadPng(const std::string& path);

// Screenshot of file `path` (+ URL `fragment`) at 1200x800 CSS px, device scale 1, written to
// dir/png_name and decoded. Chromium runs headless with every network feature off and host
// resolution disabled.
Image Screenshot(const std::string& dir, const std::string& path, const std::string& fragment,
                 const std::string& png_name);

}  // namespace goretain::testing

#endif  // GORETAIN_TESTS_TESTING_BROWSER_H_
