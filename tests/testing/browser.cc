#include "tests/testing/browser.h"

#include <gtest/gtest.h>
#include <png.h>

#include "tests/testing/fixtures.h"

namespace goretain::testing {

Image ReadPng(const std::string& path) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  Image out;
  if (!png_image_begin_read_from_file(&img, path.c_str())) {
    ADD_FAILURE() << "cannot read PNG " << path << ": " << img.message;
    return out;
  }
  img.format = PNG_FORMAT_RGB;
  out.width = static_cast<int>(img.width);
  out.height = static_cast<int>(img.height);
  out.rgb.resize(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, nullptr, out.rgb.data(), 0, nullptr)) {
    ADD_FAILURE() << "cannot decode PNG " << path << ": " << img.message;
    out = {};
  }
  return out;
}

Image Screenshot(const std::string& dir, const std::string& svg_path,
                 const std::string& fragment, const std::string& png_name) {
  const std::string png = dir + "/" + png_name;
  const std::string profile = dir + "/chromium-profile-" + png_name;
  std::vector<std::string> argv = {"chromium",
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-quic",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--disable-extensions",
                                   "--disable-default-apps",
                                   "--no-pings",
                                   "--disable-domain-reliability",
                                   "--no-proxy-server",
                                   "--host-resolver-rules=MAP * ~NOTFOUND",
                                   "--force-device-scale-factor=1",
                                   "--hide-scrollbars",
                                   "--user-data-dir=" + profile,
                                   "--screenshot=" + png,
                                   "--window-size=1200,800",
                                   "file://" + svg_path + fragment};
  auto r = RunCommand(argv, std::chrono::seconds(120));
  EXPECT_EQ(r.exit_code, 0)
      << "chromium failed (run scripts/setup.sh to install it): " << r.err;
  return ReadPng(png);
}

}  // namespace goretain::testing
