// `circuitscan sweep`, run as a user does (the built binary on the shipped model): the combined
// table holds the individual runs' numbers, a failing job is recorded while the others finish, a
// killed sweep resumes without redoing finished jobs, and a bad plan is refused before any work.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/cli_run.h"

namespace {

namespace fs = std::filesystem;
using cs_test::CliResult;
using cs_test::run_cli;
using cs_test::slurp;
using cs_test::TempDir;
using json = nlohmann::json;

const std::string kModel = CS_SOURCE_DIR "/models/toy-gpt2-4l";
const json kFast = {{"prompts", 40}, {"method-prompts", 16}, {"faith-prompts", 16}, {"trials", 1}};

fs::path write_plan(const TempDir& tmp, const json& plan, const std::string& name = "plan.json") {
  const fs::path p = tmp.path / name;
  std::ofstream(p) << plan.dump(2);
  return p;
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

const json& job_row(const json& sweep, const std::string& method, int seed, const std::string& model = "toy-gpt2-4l") {
  for (const json& j : sweep["jobs"])
    if (j["method"] == method && j["seed"] == seed && j["model"] == model) return j;
  ADD_FAILURE() << "no row " << method << " seed " << seed;
  static const json none;
  return none;
}

const json& method_of(const json& compare, const std::string& method) {
  for (const json& m : compare["methods"])
    if (m["method"] == method) return m;
  static const json none;
  return none;
}

TEST(Sweep, CombinedTableHoldsTheIndividualRunsNumbers) {
  TempDir tmp;
  const fs::path out = tmp.path / "out";
  const fs::path plan = write_plan(tmp, {{"models", {kModel}}, {"tasks", {"ioi"}}, {"methods", {"eap", "hisp"}},
                                         {"seeds", {0, 1}}, {"options", kFast}, {"out", out.string()}});
  const CliResult r = run_cli("sweep " + q(plan) + " --jobs 2 --threads-per-job 1", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* f : {"sweep.md", "sweep.csv", "sweep.json", "sweep.html"}) EXPECT_TRUE(fs::exists(out / f)) << f;
  const json sweep = json::parse(slurp(out / "sweep.json"));
  ASSERT_EQ(sweep["jobs"].size(), 4u);

  // The same job run alone by `compare`: the sweep's row has its numbers.
  const fs::path alone = tmp.path / "alone";
  const json& o = kFast;
  const CliResult c = run_cli("compare '" + kModel + "' --task ioi --methods eap --seed 1 --prompts " + o["prompts"].dump() +
                                  " --method-prompts " + o["method-prompts"].dump() + " --faith-prompts " +
                                  o["faith-prompts"].dump() + " --trials 1 --out " + q(alone),
                              tmp);
  ASSERT_EQ(c.rc, 0) << c.err;
  const json m = method_of(json::parse(slurp(alone / "compare.json")), "eap");
  const json& row = job_row(sweep, "eap", 1);
  EXPECT_EQ(row["status"], "done");
  EXPECT_DOUBLE_EQ(row["node_auc"].get<double>(), m["node_auc"][0].get<double>());
  EXPECT_DOUBLE_EQ(row["node_auc_of_mean_scores"].get<double>(), m["node_auc_of_mean_scores"].get<double>());
  EXPECT_DOUBLE_EQ(row["precision_at_k"].get<double>(), m["precision_at_k"][0].get<double>());
  EXPECT_DOUBLE_EQ(row["faithfulness_at_k"].get<double>(), m["faithfulness_at_k"][0].get<double>());
  EXPECT_DOUBLE_EQ(row["cpr"].get<double>(), m["faithfulness_curve"]["cpr"].get<double>());
  EXPECT_DOUBLE_EQ(row["edge_auc"].get<double>(), m["edge_auc"][0].get<double>());
  // Every row equals its own job folder's compare.json, and the CSV says the same to 17 digits.
  const std::string csv = slurp(out / "sweep.csv");
  for (const json& j : sweep["jobs"]) {
    const json mm = method_of(json::parse(slurp(fs::path(j["dir"].get<std::string>()) / "compare.json")), j["method"]);
    EXPECT_DOUBLE_EQ(j["node_auc"].get<double>(), mm["node_auc"][0].get<double>()) << j.dump();
    char cell[64];
    std::snprintf(cell, sizeof cell, ",%.17g,", j["node_auc"].get<double>());
    EXPECT_NE(csv.find(cell), std::string::npos) << cell;
  }
  // The page: a summary table and one section per task with both plots.
  const std::string html = slurp(out / "sweep.html");
  EXPECT_NE(html.find("id=\"summary\""), std::string::npos);
  EXPECT_NE(html.find("id=\"task-ioi\""), std::string::npos);
  EXPECT_GE(std::count(html.begin(), html.end(), '<') , 100);
  size_t svgs = 0;
  for (size_t at = 0; (at = html.find("<svg", at)) != std::string::npos; ++at) ++svgs;
  EXPECT_EQ(svgs, 2u);  // ROC and faithfulness of task ioi
  EXPECT_NE(slurp(out / "sweep.md").find("| toy-gpt2-4l | ioi | hisp | 0 | done |"), std::string::npos);
}

TEST(Sweep, AFailingJobIsRecordedAndTheOthersFinish) {
  TempDir tmp;
  const fs::path broken = tmp.path / "broken";  // a model folder whose weights are not safetensors
  fs::create_directories(broken);
  fs::copy_file(kModel + "/config.json", broken / "config.json");
  std::ofstream(broken / "model.safetensors") << "not a safetensors file";
  const fs::path out = tmp.path / "out";
  const fs::path plan = write_plan(tmp, {{"models", {broken.string(), kModel}}, {"tasks", {"ioi"}}, {"methods", {"hisp"}},
                                         {"options", kFast}, {"out", out.string()}});
  const CliResult r = run_cli("sweep " + q(plan) + " --jobs 1", tmp);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("error: 1 of 2 jobs failed"), std::string::npos) << r.err;
  const json sweep = json::parse(slurp(out / "sweep.json"));
  const json& bad = job_row(sweep, "hisp", 0, "broken");
  EXPECT_EQ(bad["status"], "failed");
  EXPECT_NE(bad["error"].get<std::string>().find("model.safetensors"), std::string::npos) << bad.dump();
  EXPECT_EQ(bad["error"].get<std::string>().find('\n'), std::string::npos);
  EXPECT_EQ(job_row(sweep, "hisp", 0)["status"], "done");
  EXPECT_FALSE(fs::exists(out / "jobs" / "broken"));  // the failed job left no folder
  EXPECT_NE(slurp(out / "sweep.html").find("id=\"failed\""), std::string::npos);
}

TEST(Sweep, AKilledSweepResumesWithoutRedoingFinishedJobs) {
  TempDir tmp;
  const fs::path out = tmp.path / "out";
  const fs::path plan = write_plan(tmp, {{"models", {kModel}}, {"tasks", {"ioi"}}, {"methods", {"hisp"}},
                                         {"seeds", {0, 1, 2}}, {"options", kFast}, {"out", out.string()}});
  const fs::path first = out / "jobs/toy-gpt2-4l/ioi/hisp/seed-0/compare.json";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // its own process group, so that the kill takes its running job too
    setpgid(0, 0);
    const int fd = ::open("/dev/null", O_WRONLY);
    dup2(fd, 1), dup2(fd, 2);
    execl(CS_BINARY, CS_BINARY, "sweep", plan.c_str(), "--jobs", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(first) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(300))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(-pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(fs::exists(first)) << "the first job did not finish within 300 s";
  EXPECT_FALSE(fs::exists(out / "sweep.json"));  // killed before the table
  const auto stamp = fs::last_write_time(first);
  // A job cut short mid-write: its folder without compare.json must be run again, not trusted.
  fs::create_directories(out / "jobs/toy-gpt2-4l/ioi/hisp/seed-2");
  std::ofstream(out / "jobs/toy-gpt2-4l/ioi/hisp/seed-2/compare.md") << "partial";
  fs::remove_all(out / "jobs/toy-gpt2-4l/ioi/hisp/seed-1");

  const CliResult r = run_cli("sweep " + q(plan) + " --jobs 1", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("3 jobs (1 done before, 2 to run)"), std::string::npos) << r.out;
  EXPECT_EQ(fs::last_write_time(first), stamp);  // not run again
  const json sweep = json::parse(slurp(out / "sweep.json"));
  for (int s : {0, 1, 2}) EXPECT_EQ(job_row(sweep, "hisp", s)["status"], "done") << s;
  EXPECT_TRUE(job_row(sweep, "hisp", 0)["reused"].get<bool>());
  EXPECT_FALSE(job_row(sweep, "hisp", 2)["reused"].get<bool>());
  EXPECT_NE(slurp(out / "jobs/toy-gpt2-4l/ioi/hisp/seed-2/compare.md"), "partial");
}

// Under mpirun the ranks share the jobs (rank r: every 2nd job left from r) and rank 0 writes the
// table: the same numbers as one process.
// Built only where there is an mpirun (CS_WITH_MPI, not the sanitizer build).
#ifdef CS_MPIEXEC
TEST(Sweep, TwoRanksShareTheJobsAndWriteTheSameTable) {
  TempDir tmp;
  const fs::path plan = write_plan(tmp, {{"models", {kModel}}, {"tasks", {"ioi"}}, {"methods", {"hisp"}},
                                         {"seeds", {0, 1, 2}}, {"options", kFast}, {"out", (tmp.path / "one").string()}});
  const CliResult one = run_cli("sweep " + q(plan) + " --jobs 1", tmp);
  ASSERT_EQ(one.rc, 0) << one.err;
  const fs::path two = tmp.path / "two";
  const std::string cmd = std::string("ASAN_OPTIONS=detect_leaks=0 '") + CS_MPIEXEC +
                          "' -np 2 --allow-run-as-root --oversubscribe '" + CS_BINARY + "' sweep " + q(plan) +
                          " --jobs 1 --out " + q(two) + " > " + q(tmp.path / "mpi.out") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << slurp(tmp.path / "mpi.out");
  const std::string log = slurp(tmp.path / "mpi.out");
  EXPECT_NE(log.find("over 2 ranks"), std::string::npos) << log;
  EXPECT_NE(log.find("[rank 1: "), std::string::npos) << log;  // rank 1 ran jobs too
  const json a = json::parse(slurp(tmp.path / "one" / "sweep.json")), b = json::parse(slurp(two / "sweep.json"));
  ASSERT_EQ(a["jobs"].size(), b["jobs"].size());
  for (size_t i = 0; i < a["jobs"].size(); ++i) {
    EXPECT_EQ(b["jobs"][i]["status"], "done");
    for (const char* k : {"node_auc", "node_auc_of_mean_scores", "precision_at_k", "faithfulness_at_k", "cpr", "cmd"})
      EXPECT_EQ(a["jobs"][i][k], b["jobs"][i][k]) << k << " of job " << i;
  }
}
#endif

TEST(Sweep, ABadPlanIsRefusedBeforeAnyWork) {
  TempDir tmp;
  const fs::path out = tmp.path / "out";
  const json good = {{"models", {kModel}}, {"tasks", {"ioi"}}, {"methods", {"hisp"}}, {"out", out.string()}};
  struct Case {
    std::string what, expect;
    json plan;
  };
  std::vector<Case> cases;
  auto with = [&](const std::string& k, const json& v) {
    json p = good;
    p[k] = v;
    return p;
  };
  cases.push_back({"unknown method", "unknown method 'magic'", with("methods", {"magic"})});
  cases.push_back({"no models", "\"models\"", with("models", json::array())});
  cases.push_back({"not a model", "is not a model folder", with("models", {tmp.path.string()})});
  cases.push_back({"bad task", "neither a builtin task", with("tasks", {"nope"})});
  cases.push_back({"out of range", "--prompts", with("options", {{"prompts", 0}})});
  cases.push_back({"unknown option", "unknown option --nope", with("options", {{"nope", 1}})});
  cases.push_back({"per-job option", "set by the plan itself", with("options", {{"seed", 3}})});
  cases.push_back({"negative seed", "non-negative integers", with("seeds", {-1})});
  cases.push_back({"unknown key", "unknown key \"model\"", with("model", "x")});
  for (const Case& c : cases) {
    const CliResult r = run_cli("sweep " + q(write_plan(tmp, c.plan)), tmp);
    EXPECT_EQ(r.rc, 1) << c.what << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.what << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.what << ": " << r.err;
    EXPECT_FALSE(fs::exists(out)) << c.what << ": left " << out;
  }
  std::ofstream(tmp.path / "broken.json") << "{\"models\": [";
  const CliResult r = run_cli("sweep " + q(tmp.path / "broken.json"), tmp);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
  const CliResult u = run_cli("sweep " + q(write_plan(tmp, good)) + " --jobs 0", tmp);
  EXPECT_EQ(u.rc, 2) << u.err;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
