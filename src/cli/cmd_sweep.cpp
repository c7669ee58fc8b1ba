// `circuitscan sweep PLAN`: every job of a plan (sweep_plan.h) run as its own `circuitscan
// compare` process, several at a time on threads, and over MPI ranks when started by mpirun
// (rank r runs the jobs j with j % ranks == r); then one combined table on rank 0.
//
// A job is a child process, not a call: a job that fails, runs out of memory or crashes ends
// alone, and its one-line error (compare's "error: ..." on stderr) is recorded while the rest go
// on. Finished jobs are found by their complete output folder and skipped, so a sweep that was
// killed resumes where it stopped.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/sweep_plan.h"
#include "ops/comm.h"
#include "ops/error.h"
#include "ops/files.h"
#include "report/sweep_report.h"

extern char** environ;

namespace cs {

namespace {

namespace fs = std::filesystem;

std::string self_exe() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("sweep: cannot find the circuitscan binary (/proc/self/exe): " + ec.message());
  return p.string();
}

// The child's environment: ours, with OMP_NUM_THREADS set, CS_MPI=0 and no MPI launcher
// variables, so a job never joins the sweep's own MPI world.
std::vector<std::string> child_env(int threads) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string v = *e;
    if (v.rfind("OMPI_", 0) == 0 || v.rfind("PMIX_", 0) == 0 || v.rfind("PMI_", 0) == 0 ||
        v.rfind("OMP_NUM_THREADS=", 0) == 0 || v.rfind("CS_MPI=", 0) == 0)
      continue;
    env.push_back(v);
  }
  env.push_back("OMP_NUM_THREADS=" + std::to_string(threads));
  env.push_back("CS_MPI=0");
  return env;
}

struct ChildResult {
  bool ok = false;
  std::string error;  // one line
};

// Runs `exe compare ARGS`: stdout to /dev/null, stderr read back for its "error: " line.
ChildResult run_job(const std::string& exe, const SweepJob& job, const std::vector<std::string>& env) {
  std::vector<std::string> argv_s = {exe, "compare"};
  argv_s.insert(argv_s.end(), job.args.begin(), job.args.end());
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_copy = env;
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {false, "could not start the job: pipe: " + std::string(std::strerror(errno))};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return {false, "could not start the job: " + std::string(std::strerror(rc))};
  }
  std::string err;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    err.append(buf, static_cast<size_t>(n));
    if (err.size() > (1u << 20)) err.erase(0, err.size() - (1u << 19));  // keep the tail
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    if (sweep_job_complete(job)) return {true, ""};
    return {false, "compare exited 0 but left no complete compare.json in " + job.dir};
  }
  // compare's own one-line error, else how the process ended.
  std::string line;
  for (size_t at = err.rfind("error: "); at != std::string::npos;) {
    line = err.substr(at + 7);
    line = line.substr(0, line.find('\n'));
    break;
  }
  if (!line.empty()) return {false, line};
  if (WIFSIGNALED(status))
    return {false, "compare was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")"};
  return {false, "compare exited with code " + std::to_string(WEXITSTATUS(status))};
}

std::string job_name(const SweepJob& j) {
  return j.model_label + " " + j.task_label + " " + j.method + " seed " + std::to_string(j.seed);
}

// Runs this rank's jobs, n_threads at a time, each child with per_job OpenMP threads; a line per
// finished job. Results indexed like plan.jobs (only `mine` filled).
std::vector<ChildResult> run_jobs(const SweepPlan& plan, const std::vector<int>& mine, int n_threads, int per_job,
                                  int rank) {
  const std::string exe = self_exe();
  const std::vector<std::string> env = child_env(per_job);
  std::vector<ChildResult> results(plan.jobs.size());
  std::atomic<size_t> next{0};
  std::atomic<int> finished{0};
  std::mutex print;
  auto worker = [&] {
    for (size_t k; (k = next++) < mine.size();) {
      const SweepJob& job = plan.jobs[mine[k]];
      const auto t0 = std::chrono::steady_clock::now();
      results[mine[k]] = run_job(exe, job, env);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::lock_guard<std::mutex> lock(print);
      const int f = ++finished;
      std::printf("[rank %d: %d/%zu] %s %s (%.1f s)%s%s\n", rank, f, mine.size(), job_name(job).c_str(),
                  results[mine[k]].ok ? "done" : "FAILED", s, results[mine[k]].ok ? "" : ": ",
                  results[mine[k]].error.c_str());
      std::fflush(stdout);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < n_threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  return results;
}

// Rank 0: every job's outcome (its folder's compare.json, or its error) into OUT/sweep.{md,csv,
// json,html}, the four files staged together. Returns how many jobs failed.
int write_combined(const SweepPlan& plan, const std::vector<bool>& reused, std::map<int, std::string>& errors) {
  std::vector<SweepOutcome> outcomes;
  int n_failed = 0;
  for (size_t i = 0; i < plan.jobs.size(); ++i) {
    const SweepJob& j = plan.jobs[i];
    SweepOutcome o;
    o.model = j.model_label, o.task = j.task_label, o.method = j.method, o.seed = j.seed, o.dir = j.dir;
    o.reused = reused[i];
    o.ok = !errors.count(static_cast<int>(i)) && sweep_job_complete(j);
    if (o.ok) o.compare_json = read_input_file(j.dir + "/compare.json", kMaxLargeInputBytes);
    else o.error = errors.count(static_cast<int>(i)) ? errors[static_cast<int>(i)] : "no complete output in " + j.dir;
    n_failed += !o.ok;
    outcomes.push_back(std::move(o));
  }
  const std::string md = sweep_markdown(outcomes, plan.path), csv = sweep_csv(outcomes),
                    json = sweep_json(outcomes, plan.path), html = sweep_html(outcomes, plan.path);
  {
    StagedDir dir(plan.out);  // the four files appear together
    write_file_atomic(dir.path("sweep.md"), md);
    write_file_atomic(dir.path("sweep.csv"), csv);
    write_file_atomic(dir.path("sweep.json"), json);
    write_file_atomic(dir.path("sweep.html"), html);
    dir.commit();
  }
  std::printf("\n%s\nwrote %s/{sweep.md,sweep.csv,sweep.json,sweep.html}\n", md.c_str(), plan.out.c_str());
  return n_failed;
}

}  // namespace

int cmd_sweep(int argc, char** argv) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Args a("sweep",
         "Run a plan of models x tasks x methods x seeds, each job one `circuitscan compare` run with one\n"
         "method writing its usual folder (OUT/jobs/MODEL/TASK/METHOD/seed-S), several jobs at a time on\n"
         "threads and over MPI ranks under mpirun; then one combined table: OUT/sweep.{md,csv,json,html}.\n"
         "Finished jobs are skipped (a killed sweep resumes); a failed job is recorded with its error and\n"
         "the others go on (exit code 1 when any failed). The plan is JSON:\n"
         "  {\"models\": [\"models/toy-gpt2-4l\"], \"tasks\": [\"ioi\", \"docstring\"], \"methods\": [\"sae\", \"eap\"],\n"
         "   \"seeds\": [0, 1], \"options\": {\"prompts\": 100, \"trials\": 1}, \"out\": \"out/sweep\"}\n"
         "options are compare's flags (see circuitscan compare --help; a toggle: true); relative paths are\n"
         "relative to the plan's folder.");
  a.positional("PLAN", "the plan file (JSON)")
      .flag("out", "", "output folder (overrides the plan's \"out\")")
      .int_flag("jobs", "", 1, 1024, "jobs run at once on this process (default: the cores, at most the jobs left)")
      .int_flag("threads-per-job", "", 1, 1024, "OpenMP threads of each job (default: cores / --jobs)")
      .toggle("dry-run", "list the jobs and which are done, run nothing");
  if (!a.parse(argc, argv)) return 0;
  Comm& comm = Comm::world();
  const SweepPlan plan = load_sweep_plan(a.str("PLAN"), a.str("out"));
  check_output_dir(plan.out, "--out", {"sweep.md", "sweep.csv", "sweep.json", "sweep.html"});

  // Which jobs are done: rank 0 looks, and every rank takes its answer (a rank that looked
  // later could see a job another rank has just finished, and split the rest differently).
  std::string done(plan.jobs.size(), '0');
  if (comm.is_root())
    for (size_t i = 0; i < plan.jobs.size(); ++i) done[i] = sweep_job_complete(plan.jobs[i]) ? '1' : '0';
  comm.broadcast(done);
  std::vector<int> todo;
  std::vector<bool> reused(plan.jobs.size(), false);
  for (size_t i = 0; i < plan.jobs.size(); ++i) {
    reused[i] = done[i] == '1';
    if (!reused[i]) todo.push_back(static_cast<int>(i));
  }
  // This rank's share: every size-th job left, from its rank on.
  std::vector<int> mine;
  for (size_t i = 0; i < todo.size(); ++i)
    if (static_cast<int>(i % comm.size()) == comm.rank()) mine.push_back(todo[i]);
  const int n_threads = a.given("jobs") ? a.integer("jobs") : std::max<int>(1, std::min<int>(cores, static_cast<int>(mine.size())));
  const int per_job = a.given("threads-per-job") ? a.integer("threads-per-job") : std::max(1, cores / n_threads);
  if (comm.is_root()) {
    std::printf("sweep %s: %zu jobs (%zu done before, %zu to run) over %d rank%s, %d at a time per rank, %d thread%s each\n",
                plan.path.c_str(), plan.jobs.size(), plan.jobs.size() - todo.size(), todo.size(), comm.size(),
                comm.size() == 1 ? "" : "s", n_threads, per_job, per_job == 1 ? "" : "s");
    std::fflush(stdout);
  }
  if (a.on("dry-run")) {
    if (comm.is_root())
      for (size_t i = 0; i < plan.jobs.size(); ++i)
        std::printf("  %s %s -> %s\n", reused[i] ? "done" : "todo", job_name(plan.jobs[i]).c_str(), plan.jobs[i].dir.c_str());
    return 0;
  }


  const std::vector<ChildResult> results = run_jobs(plan, mine, n_threads, per_job, comm.rank());

  // Every rank's failures to rank 0 (its finished jobs are on the shared file system already).
  nlohmann::json failed = nlohmann::json::object();
  for (int i : mine)
    if (!results[i].ok) failed[std::to_string(i)] = results[i].error;
  const std::vector<std::string> all = comm.gather(failed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!comm.is_root()) {
    comm.barrier();
    return 0;
  }
  std::map<int, std::string> errors;
  for (const std::string& s : all) {
    const nlohmann::json rank_failed = nlohmann::json::parse(s);
    for (auto& [k, v] : rank_failed.items()) errors[std::stoi(k)] = v.get<std::string>();
  }

  const int n_failed = write_combined(plan, reused, errors);
  comm.barrier();
  if (n_failed) {
    std::fprintf(stderr, "error: %d of %zu jobs failed (their errors are in %s/sweep.md); run the sweep again to retry them\n",
                 n_failed, plan.jobs.size(), plan.out.c_str());
    return 1;
  }
  return 0;
}

}  // namespace cs
