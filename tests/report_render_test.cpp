// report.html and compare.html as a browser shows them: written by the built binary for every
// builtin task on the shipped model, loaded in headless Chromium (the Debian package), which must
// report no JavaScript error, and whose DOM must hold every section. Where Chromium is not
// installed the tests skip and say so (apt-get install chromium). With CS_REPORT_SCREENSHOTS=DIR
// set, each page is also saved as DIR/<task>-<page>.png, to look at.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/cli_run.h"

namespace fs = std::filesystem;

namespace {

const std::string kModel = CS_SOURCE_DIR "/models/toy-gpt2-4l";

using cs_test::slurp;

// The Chromium binary on PATH, or "".
std::string chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const std::string cmd = std::string("command -v ") + name + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return name;
  }
  return "";
}

using cs_test::TempDir;

int sh(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct Rendered {
  int rc = -1;
  std::string dom, log;
};

// Loads the page in headless Chromium: the DOM after load, and the console log (stderr).
Rendered render(const std::string& browser, const fs::path& page, const fs::path& work, bool screenshot = true) {
  const fs::path dom = work / "dom.html", log = work / "chromium.log", profile = work / "profile";
  const std::string flags = " --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir='" + profile.string() +
                            "' --enable-logging=stderr --v=0 ";
  Rendered r;
  r.rc = sh("timeout 120 " + browser + flags + "--dump-dom 'file://" + page.string() + "' >'" + dom.string() + "' 2>'" +
            log.string() + "'");
  r.dom = slurp(dom);
  r.log = slurp(log);
  if (const char* dir = std::getenv("CS_REPORT_SCREENSHOTS"); dir && screenshot) {
    fs::create_directories(dir);
    const fs::path png = fs::path(dir) / (page.parent_path().filename().string() + "-" + page.stem().string() + ".png");
    sh("timeout 120 " + browser + flags + "--hide-scrollbars --window-size=1250,3600 --screenshot='" + png.string() +
       "' 'file://" + page.string() + "' >/dev/null 2>&1");
  }
  return r;
}

// Console errors: uncaught exceptions and console.error lines Chromium logs.
std::vector<std::string> js_errors(const std::string& log) {
  std::vector<std::string> e;
  std::istringstream in(log);
  for (std::string l; std::getline(in, l);)
    if (l.find("CONSOLE") != std::string::npos &&
        (l.find("Uncaught") != std::string::npos || l.find("Error") != std::string::npos))
      e.push_back(l);
  return e;
}

void expect_sections(const Rendered& r, const std::vector<std::string>& ids, const std::string& what) {
  ASSERT_EQ(r.rc, 0) << what << ": chromium failed\n" << r.log;
  EXPECT_NE(r.dom.find("</html>"), std::string::npos) << what;
  EXPECT_TRUE(js_errors(r.log).empty()) << what << ": " << js_errors(r.log).front();
  for (const std::string& id : ids)
    EXPECT_TRUE(std::regex_search(r.dom, std::regex("<h[23] id=\"" + id + "\">"))) << what << ": no section " << id;
  EXPECT_GT(std::count(r.dom.begin(), r.dom.end(), '<'), 100) << what;
  EXPECT_NE(r.dom.find("<svg"), std::string::npos) << what << ": no plot";
}

class ReportRender : public ::testing::TestWithParam<std::string> {};

TEST_P(ReportRender, DiscoverAndCompareReportsRenderWithEverySection) {
  const std::string browser = chromium();
  ASSERT_FALSE(browser.empty()) << "Chromium is not installed (scripts/setup.sh installs it): the reports were not rendered";
  const std::string task = GetParam();
  TempDir tmp(task);
  const fs::path d = tmp.path / task, c = tmp.path / (task + "-compare");
  ASSERT_EQ(sh(std::string("'") + CS_BINARY + "' discover '" + kModel + "' --task " + task +
               " --prompts 60 --epochs 100 --faith-prompts 30 --trials 2 --out '" + d.string() + "' >/dev/null 2>&1"),
            0);
  ASSERT_EQ(sh(std::string("'") + CS_BINARY + "' compare '" + kModel + "' --task " + task +
               " --methods sae,eap,hisp --prompts 40 --method-prompts 20 --faith-prompts 20 --trials 2 --out '" +
               c.string() + "' >/dev/null 2>&1"),
            0);
  fs::rename(c / "compare.html", d / "compare.html");  // screenshots named <task>-report, <task>-compare
  expect_sections(render(browser, d / "report.html", tmp.path),
                  {"run", "scores", "evaluation", "graph", "circuit", "trials", "timings"}, task + " report.html");
  expect_sections(render(browser, d / "compare.html", tmp.path),
                  {"table", "roc", "roc-per-method", "faithfulness", "faithfulness-per-method", "rankings"},
                  task + " compare.html");
}

INSTANTIATE_TEST_SUITE_P(EveryTask, ReportRender,
                         ::testing::Values("ioi", "greater-than", "docstring", "induction"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// The check itself: a page with a script error fails it, and a page without a section fails it.
TEST(ReportRenderCheck, CatchesScriptErrorsAndMissingSections) {
  const std::string browser = chromium();
  ASSERT_FALSE(browser.empty()) << "Chromium is not installed (scripts/setup.sh installs it): nothing to check";
  TempDir tmp("check");
  std::ofstream(tmp.path / "bad.html") << "<!DOCTYPE html><html><body><h2 id=\"run\">Run</h2>"
                                          "<script>no_such_function();</script></body></html>";
  const Rendered r = render(browser, tmp.path / "bad.html", tmp.path, false);
  ASSERT_EQ(r.rc, 0) << r.log;
  EXPECT_FALSE(js_errors(r.log).empty()) << r.log;
  EXPECT_TRUE(std::regex_search(r.dom, std::regex("<h[23] id=\"run\">")));
  EXPECT_FALSE(std::regex_search(r.dom, std::regex("<h[23] id=\"graph\">")));
}

}  // namespace
