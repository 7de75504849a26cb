/*
 * test_poller.c - the Modbus poller against the real simulator.
 *
 * The read-plan cases are pure. Every other case writes a small site config
 * into a temp dir with loopback ports found free at run time, starts
 * $VIGIL_BUILD/vigil-sim on it, runs poll_start() on the same config with a
 * real queue, and asserts what reaches the queue while the simulator is
 * driven through its control commands (set, fail, stats). The simulator is
 * stopped by PID at the end of each case and on any exit.
 *
 * Waits poll for a condition until a generous deadline; the only bounds that
 * matter are the behavioural ones named in each case (a device goes down
 * within its fail window, a healthy device is not held up by a dead one).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "core.h"
#include "harness.h"
#include "poller.h"
#include "queue.h"

#define LOG_MAX 8192
#define SIM_REPLY_MS 5000

/* A running simulator, a loaded site, a queue and the poller on it. */
struct fixture {
    char dir[64];
    char conf[128];
    struct cfg_site *site;
    struct queue q;
    bool q_ready;
    struct poll_set *ps;
    pid_t sim;
    int sim_in, sim_out;
    char sim_buf[1024];
    size_t sim_len;
    char reply[256];
    struct core_input log[LOG_MAX]; /* every input popped, in order */
    int n_log;
};

static pid_t live_sim = -1; /* killed at exit if a case bails out early */

static void kill_live_sim(void)
{
    if (live_sim > 0) {
        kill(live_sim, SIGKILL);
        waitpid(live_sim, NULL, 0);
    }
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);

    return v && *v ? v : dflt;
}

/* A loopback TCP port nobody listens on right now. */
static int free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------ */
/* The simulator process                                                    */

/* Reads one line from the simulator's stdout into f->reply; false on timeout/EOF. */
static bool sim_read_line(struct fixture *f, int timeout_ms)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;

    for (;;) {
        char *nl = memchr(f->sim_buf, '\n', f->sim_len);
        struct pollfd pfd = { .fd = f->sim_out, .events = POLLIN };
        uint64_t now = clock_mono_ms();
        ssize_t n;

        if (nl) {
            size_t len = (size_t)(nl - f->sim_buf);

            snprintf(f->reply, sizeof(f->reply), "%.*s", (int)len, f->sim_buf);
            f->sim_len -= len + 1;
            memmove(f->sim_buf, nl + 1, f->sim_len);
            return true;
        }
        if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0)
            return false;
        n = read(f->sim_out, f->sim_buf + f->sim_len, sizeof(f->sim_buf) - f->sim_len);
        if (n <= 0)
            return false;
        f->sim_len += (size_t)n;
    }
}

static const char *sim_cmd(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends one control command and returns the simulator's answer line. */
static const char *sim_cmd(struct fixture *f, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(f->sim_in, line, (size_t)n) != n || !sim_read_line(f, SIM_REPLY_MS))
        snprintf(f->reply, sizeof(f->reply), "error no answer");
    return f->reply;
}

#define SIM_OK(f, ...) EXPECT_STR(sim_cmd((f), __VA_ARGS__), "ok")

/* The simulator's request count for a device, or -1. */
static long sim_requests(struct fixture *f, const char *device)
{
    long n = -1;

    if (sscanf(sim_cmd(f, "stats %s", device), "ok requests=%ld", &n) != 1)
        return -1;
    return n;
}

/* Starts vigil-sim on f->conf and waits for "ready". */
static bool sim_start(struct fixture *f)
{
    char path[512];
    int in[2], out[2];

    snprintf(path, sizeof(path), "%s/vigil-sim", env_or("VIGIL_BUILD", "build"));
    if (pipe(in) != 0 || pipe(out) != 0)
        return false;
    f->sim = fork();
    if (f->sim == 0) {
        /* Dies with the test even if the test is killed before its atexit. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        close(in[1]);
        close(out[0]);
        /* RTU lines take their real wire time (no TCP bus is affected). */
        execl(path, "vigil-sim", "--config", f->conf, "--wire-time", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    f->sim_in = in[1];
    f->sim_out = out[0];
    if (f->sim < 0)
        return false;
    live_sim = f->sim;
    return sim_read_line(f, SIM_REPLY_MS) && strcmp(f->reply, "ready") == 0;
}

/* Asks the simulator to quit, and kills it if it does not. */
static void sim_stop(struct fixture *f)
{
    uint64_t deadline = clock_mono_ms() + 3000;

    if (f->sim <= 0)
        return;
    sim_cmd(f, "quit");
    while (waitpid(f->sim, NULL, WNOHANG) == 0) {
        if (clock_mono_ms() > deadline) {
            kill(f->sim, SIGKILL);
            waitpid(f->sim, NULL, 0);
            break;
        }
        sleep_ms(10);
    }
    close(f->sim_in);
    close(f->sim_out);
    f->sim = -1;
    live_sim = -1;
}

/* ------------------------------------------------------------------------ */
/* Fixture                                                                  */

/*
 * Writes the site config (a fixed header and the case's buses, devices and
 * points; "@DIR@" in the body becomes the case's temp dir), starts the
 * simulator if asked, loads the site and makes the queue.
 */
static bool fx_setup(struct fixture *f, bool with_sim, const char *body_fmt, ...)
{
    char profiles[512], body[8192];
    va_list ap;
    FILE *fp;

    memset(f, 0, sizeof(*f));
    f->sim = -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/vigil-poll-XXXXXX");
    if (!mkdtemp(f->dir))
        return false;
    snprintf(f->conf, sizeof(f->conf), "%s/site.conf", f->dir);
    snprintf(profiles, sizeof(profiles), "%s/sensors/profiles", env_or("VIGIL_TOP", "."));
    fp = fopen(f->conf, "w");
    if (!fp)
        return false;
    fprintf(fp, "site = { id = \"poll-test\"; state_dir = \"%s/state\"; profile_dir = \"%s\"; };\n", f->dir,
            profiles);
    fprintf(fp, "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1\"; } ); };\n");
    fprintf(fp, "zones = ( { id = \"z\"; } );\n");
    va_start(ap, body_fmt);
    vsnprintf(body, sizeof(body), body_fmt, ap);
    va_end(ap);
    for (const char *c = body; *c; c++) {
        if (strncmp(c, "@DIR@", 5) == 0) {
            fputs(f->dir, fp);
            c += 4;
        } else {
            fputc(*c, fp);
        }
    }
    fclose(fp);
    if (with_sim && !sim_start(f)) {
        printf("#   vigil-sim did not get ready (%s)\n", f->reply);
        return false;
    }
    char err[2048];
    f->site = cfg_load(f->conf, NULL, err, sizeof(err));
    if (!f->site) {
        printf("#   config: %s\n", err);
        return false;
    }
    f->q_ready = queue_init(&f->q, sizeof(struct core_input), 4096) == 0;
    return f->q_ready;
}

static bool fx_poll(struct fixture *f)
{
    char err[256];

    f->ps = poll_start(f->site, &f->q, err, sizeof(err));
    if (!f->ps)
        printf("#   poll_start: %s\n", err);
    return f->ps != NULL;
}

static void fx_teardown(struct fixture *f)
{
    char path[192];

    if (f->q_ready)
        queue_close(&f->q);
    poll_stop(f->ps);
    sim_stop(f);
    if (f->q_ready)
        queue_destroy(&f->q);
    cfg_free(f->site);
    unlink(f->conf);
    snprintf(path, sizeof(path), "%s/tty0", f->dir);
    unlink(path);
    rmdir(f->dir);
}

static int point_id(struct fixture *f, const char *id)
{
    int p = cfg_find_point(f->site, id);

    EXPECT(p >= 0, "no point %s", id);
    return p;
}

static int device_id(struct fixture *f, const char *id)
{
    int d = cfg_find_device(f->site, id);

    EXPECT(d >= 0, "no device %s", id);
    return d;
}

/* Pops one input into the log, waiting at most timeout_ms. */
static bool fx_pop(struct fixture *f, int timeout_ms)
{
    if (f->n_log == LOG_MAX || queue_pop(&f->q, &f->log[f->n_log], timeout_ms) != 1)
        return false;
    f->n_log++;
    return true;
}

/* Pops everything that arrives during ms. */
static void fx_drain(struct fixture *f, int ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    uint64_t now;

    while ((now = clock_mono_ms()) < end)
        fx_pop(f, (int)(end - now));
}

static bool match_sample(const struct core_input *in, int point, bool unused)
{
    (void)unused;
    return in->type == CORE_IN_SAMPLE && in->u.sample.point == point;
}

static bool match_comm(const struct core_input *in, int device, bool up)
{
    return in->type == CORE_IN_COMM && in->u.comm.device == device && in->u.comm.up == up;
}

/*
 * Index of the first logged input from index `from` that matches, popping
 * more inputs for at most timeout_ms; -1 if none arrived.
 */
static int wait_for(struct fixture *f, int from, bool (*match)(const struct core_input *, int, bool), int id,
                    bool up, int timeout_ms)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;

    for (int i = from;; i++) {
        while (i >= f->n_log) {
            uint64_t now = clock_mono_ms();

            if (now >= deadline)
                return -1;
            fx_pop(f, (int)(deadline - now));
        }
        if (match(&f->log[i], id, up))
            return i;
    }
}

static int wait_sample(struct fixture *f, int from, int point, int timeout_ms)
{
    return wait_for(f, from, match_sample, point, false, timeout_ms);
}

static int wait_comm(struct fixture *f, int from, int device, bool up, int timeout_ms)
{
    return wait_for(f, from, match_comm, device, up, timeout_ms);
}

/* How many logged samples in [from, n_log) belong to a point of device. */
static int count_device_samples(struct fixture *f, int from, int device)
{
    int n = 0;

    for (int i = from; i < f->n_log; i++)
        n += f->log[i].type == CORE_IN_SAMPLE && f->site->points[f->log[i].u.sample.point].device == device;
    return n;
}

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

/* ------------------------------------------------------------------------ */
/* Read plan (pure)                                                         */

/* A one-device site whose points use inputs at the given table/addresses. */
struct plan_site {
    struct cfg_site site;
    struct cfg_bus bus;
    struct cfg_profile profile;
    struct cfg_device device;
    struct cfg_input inputs[64];
    struct cfg_point points[64];
};

static void plan_site_init(struct plan_site *ps, enum cfg_table table, const int *addr, int n)
{
    memset(ps, 0, sizeof(*ps));
    ps->profile.inputs = ps->inputs;
    ps->profile.n_inputs = n;
    ps->site.buses = &ps->bus;
    ps->site.n_buses = 1;
    ps->site.profiles = &ps->profile;
    ps->site.n_profiles = 1;
    ps->site.devices = &ps->device;
    ps->site.n_devices = 1;
    ps->site.points = ps->points;
    ps->site.n_points = n;
    for (int i = 0; i < n; i++) {
        ps->inputs[i].table = table;
        ps->inputs[i].address = addr[i];
        ps->inputs[i].format = table == CFG_TABLE_COIL || table == CFG_TABLE_DISCRETE ? CFG_FMT_BIT : CFG_FMT_U16;
        ps->points[i].input = i;
    }
}

struct plan_case {
    const char *what;
    enum cfg_table table;
    int addr[40];
    int n_addr;
    struct poll_block want[4];
    int n_want;
};

static void test_plan_merges_into_fewest_requests(void)
{
    static const struct plan_case cases[] = {
        { "16 discrete inputs: one request", CFG_TABLE_DISCRETE,
          { 3, 0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }, 16,
          { { CFG_TABLE_DISCRETE, 0, 16 } }, 1 },
        { "status registers 0,1,3 and a duplicate: one request", CFG_TABLE_INPUT, { 0, 1, 3, 1 }, 4,
          { { CFG_TABLE_INPUT, 0, 4 } }, 1 },
        { "a gap of 16 registers is read across", CFG_TABLE_HOLDING, { 0, 17 }, 2,
          { { CFG_TABLE_HOLDING, 0, 18 } }, 1 },
        { "a gap of 17 registers splits", CFG_TABLE_HOLDING, { 0, 18 }, 2,
          { { CFG_TABLE_HOLDING, 0, 1 }, { CFG_TABLE_HOLDING, 18, 1 } }, 2 },
        { "125 registers per request at most", CFG_TABLE_INPUT, { 0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110,
          120, 124, 125, 130 }, 16,
          { { CFG_TABLE_INPUT, 0, 125 }, { CFG_TABLE_INPUT, 125, 6 } }, 2 },
        { "a gap of 64 bits is read across, 65 splits", CFG_TABLE_COIL, { 0, 65, 131 }, 3,
          { { CFG_TABLE_COIL, 0, 66 }, { CFG_TABLE_COIL, 131, 1 } }, 2 },
        { "2000 bits per request at most", CFG_TABLE_DISCRETE, { 0, 60, 120, 180, 240, 300, 360, 420, 480, 540,
          600, 660, 720, 780, 840, 900, 960, 1020, 1080, 1140, 1200, 1260, 1320, 1380, 1440, 1500, 1560, 1620,
          1680, 1740, 1800, 1860, 1920, 1980, 1999, 2000, 2010 }, 37,
          { { CFG_TABLE_DISCRETE, 0, 2000 }, { CFG_TABLE_DISCRETE, 2000, 11 } }, 2 },
    };

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct plan_site ps;
        struct poll_block got[8];
        int n;

        plan_site_init(&ps, cases[c].table, cases[c].addr, cases[c].n_addr);
        n = poll_plan(&ps.site, 0, got, 8);
        EXPECT(n == cases[c].n_want, "%s: %d requests, want %d", cases[c].what, n, cases[c].n_want);
        for (int i = 0; i < n && i < cases[c].n_want; i++)
            EXPECT(got[i].table == cases[c].want[i].table && got[i].address == cases[c].want[i].address &&
                       got[i].count == cases[c].want[i].count,
                   "%s: request %d is table %d %d+%d, want table %d %d+%d", cases[c].what, i, got[i].table,
                   got[i].address, got[i].count, cases[c].want[i].table, cases[c].want[i].address,
                   cases[c].want[i].count);
    }
}

/* Tables are read separately, and only the inputs points use are read. */
static void test_plan_tables_and_unused_inputs(void)
{
    struct plan_site ps;
    struct poll_block got[8];
    int addr[4] = { 5, 5, 7, 9 };
    int n;

    plan_site_init(&ps, CFG_TABLE_INPUT, addr, 4);
    ps.inputs[0].table = CFG_TABLE_COIL;
    ps.inputs[0].format = CFG_FMT_BIT;
    ps.inputs[1].table = CFG_TABLE_DISCRETE;
    ps.inputs[1].format = CFG_FMT_BIT;
    ps.inputs[2].table = CFG_TABLE_HOLDING;
    ps.site.n_points = 3; /* the input at 9 is defined but no point uses it */
    n = poll_plan(&ps.site, 0, got, 8);
    EXPECT_INT(n, 3);
    EXPECT(n == 3 && got[0].table == CFG_TABLE_COIL && got[1].table == CFG_TABLE_DISCRETE &&
               got[2].table == CFG_TABLE_HOLDING && got[2].address == 7 && got[2].count == 1,
           "tables or addresses wrong");

    /* A device no point uses is still read, on its first input, so its link is watched. */
    ps.site.n_points = 0;
    n = poll_plan(&ps.site, 0, got, 8);
    EXPECT(n == 1 && got[0].table == CFG_TABLE_COIL && got[0].address == 5 && got[0].count == 1,
           "unused device: %d requests", n);
}

/* A 32-bit value occupies two registers: both are read, and never from two
 * requests. Registers every 16 from 0 chain into one request; a float at
 * 124 would end one past the 125-register limit, so it starts a request of
 * its own rather than being torn between two answers. A u32 at 16 makes
 * the first request cover 17 too. */
static void test_plan_keeps_32bit_values_whole(void)
{
    struct plan_site ps;
    struct poll_block got[8];
    int addr[9] = { 0, 16, 32, 48, 64, 80, 96, 112, 124 };
    int n;

    plan_site_init(&ps, CFG_TABLE_INPUT, addr, 9);
    ps.inputs[1].format = CFG_FMT_U32;
    ps.inputs[8].format = CFG_FMT_F32;
    n = poll_plan(&ps.site, 0, got, 8);
    EXPECT(n == 2 && got[0].address == 0 && got[0].count == 113 && got[1].address == 124 && got[1].count == 2,
           "%d requests: %d+%d, %d+%d", n, got[0].address, got[0].count, got[1].address, got[1].count);
    ps.inputs[8].format = CFG_FMT_U16;
    n = poll_plan(&ps.site, 0, got, 8);
    EXPECT(n == 1 && got[0].count == 125, "a 16-bit value at 124 still fits: %d requests", n);
}

/* ------------------------------------------------------------------------ */
/* Against the simulator                                                    */

#define DEV_FAST "poll_ms = 100; timeout_ms = 300; fail_count = 3; fail_ms = 2000;"

/*
 * "Sensor noise does not fill the journal, and never hides an alarm": with
 * report_deadband 1.0 a temperature that wanders by tenths reaches the core
 * once, a real move does, and a step across the 35 degree limit is reported
 * however small.
 */
static void test_report_deadband_never_hides_a_limit(void)
{
    struct fixture f;
    int port = free_port();

    if (!fx_setup(&f, true,
                  "buses = ( { id = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; } );\n"
                  "devices = ( { id = \"th\"; bus = \"lan\"; unit = 1; profile = \"th-rs485\"; " DEV_FAST " } );\n"
                  "points = ( { id = \"temp\"; device = \"th\"; input = \"temperature\"; kind = \"temperature\";"
                  " high = 35.0; deadband = 0.5; report_deadband = 1.0; } );\n",
                  port)) {
        EXPECT(0, "setup failed");
        fx_teardown(&f);
        return;
    }
    SIM_OK(&f, "set temp 20.0");
    EXPECT(fx_poll(&f), "poll_start");
    int temp = point_id(&f, "temp"), th = device_id(&f, "th");
    EXPECT(wait_sample(&f, 0, temp, 3000) >= 0, "first reading");
    int mark = f.n_log;
    SIM_OK(&f, "set temp 20.3");
    fx_drain(&f, 300);
    SIM_OK(&f, "set temp 19.8");
    fx_drain(&f, 300);
    EXPECT_INT(count_device_samples(&f, mark, th), 0);
    SIM_OK(&f, "set temp 21.5");
    int t = wait_sample(&f, mark, temp, 3000);
    EXPECT(t >= 0 && near(f.log[t].u.sample.value, 21.5), "a move of 1.5 was not reported");
    SIM_OK(&f, "set temp 34.6");
    fx_drain(&f, 300);
    mark = f.n_log;
    SIM_OK(&f, "set temp 35.1");
    t = wait_sample(&f, mark, temp, 3000);
    EXPECT(t >= 0 && near(f.log[t].u.sample.value, 35.1), "a step of 0.5 across the high limit was hidden");
    mark = f.n_log;
    SIM_OK(&f, "set temp 34.4");
    t = wait_sample(&f, mark, temp, 3000);
    EXPECT(t >= 0 && near(f.log[t].u.sample.value, 34.4), "a step back below the clear level was hidden");
    fx_teardown(&f);
}

static void test_first_read_then_only_changes(void)
{
    struct fixture f;
    int port = free_port();

    if (!fx_setup(&f, true,
                  "buses = ( { id = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; } );\n"
                  "devices = ( { id = \"th\"; bus = \"lan\"; unit = 1; profile = \"th-rs485\"; " DEV_FAST " } );\n"
                  "points = (\n"
                  "  { id = \"temp\"; device = \"th\"; input = \"temperature\"; kind = \"temperature\"; },\n"
                  "  { id = \"hum\"; device = \"th\"; input = \"humidity\"; kind = \"humidity\"; scale = 2.0;"
                  " offset = 1.0; }\n);\n",
                  port)) {
        EXPECT(0, "setup failed");
        fx_teardown(&f);
        return;
    }
    SIM_OK(&f, "set temp -12.5");
    SIM_OK(&f, "set hum 91.0");
    EXPECT(fx_poll(&f), "poll_start");
    int th = device_id(&f, "th"), temp = point_id(&f, "temp"), hum = point_id(&f, "hum");
    int up = wait_comm(&f, 0, th, true, 3000);
    int t = wait_sample(&f, 0, temp, 3000), h = wait_sample(&f, 0, hum, 3000);

    EXPECT(up >= 0 && t > up && h > up, "comm up first, then every point (up=%d temp=%d hum=%d)", up, t, h);
    EXPECT(t >= 0 && near(f.log[t].u.sample.value, -12.5), "temp value %g", t >= 0 ? f.log[t].u.sample.value : 0);
    EXPECT(h >= 0 && near(f.log[h].u.sample.value, 91.0), "hum value %g", h >= 0 ? f.log[h].u.sample.value : 0);
    /* Time is the core thread's to give, in the order it feeds inputs (corethread.c). */
    EXPECT(t >= 0 && f.log[t].mono_ms == 0 && f.log[t].wall_ms == 0, "the poller stamped an input itself");

    /* Nothing changes: several cycles pass without a sample. */
    int mark = f.n_log;
    fx_drain(&f, 600);
    EXPECT_INT(count_device_samples(&f, mark, th), 0);

    /* One change: exactly one sample, with the new value. */
    mark = f.n_log;
    SIM_OK(&f, "set temp 21.3");
    t = wait_sample(&f, mark, temp, 3000);
    EXPECT(t >= 0 && near(f.log[t].u.sample.value, 21.3), "changed temp arrives");
    fx_drain(&f, 500);
    EXPECT_INT(count_device_samples(&f, mark, th), 1);

    struct poll_device_stats st;
    poll_get_stats(f.ps, th, &st);
    EXPECT(st.up && st.polls >= 5 && st.failures == 0 && st.last_ok_mono_ms > 0,
           "stats up=%d polls=%llu failures=%llu", st.up, (unsigned long long)st.polls,
           (unsigned long long)st.failures);
    uint64_t p1 = poll_progress(f.ps);
    sleep_ms(300);
    EXPECT(poll_progress(f.ps) > p1, "progress advances while the bus thread cycles");
    fx_teardown(&f);
}

/*
 * 16 discrete inputs in one request, 3 status registers in one request: the
 * simulator sees exactly one request per poll cycle for each device.
 */
static void test_coalescing_on_the_wire(void)
{
    struct fixture f;
    int port = free_port();
    char points[4096];
    size_t len = 0;

    for (int i = 1; i <= 16; i++)
        len += (size_t)snprintf(points + len, sizeof(points) - len,
                                "  { id = \"di%d\"; device = \"io\"; input = \"di%d\"; kind = \"digital\"; },\n",
                                i, i);
    for (int i = 1; i <= 8; i++)
        len += (size_t)snprintf(points + len, sizeof(points) - len,
                                "  { id = \"z%d\"; device = \"pids\"; input = \"zone%d_alarm\"; kind = \"fence\";"
                                " zone = \"z\"; },\n", i, i);
    snprintf(points + len, sizeof(points) - len,
             "  { id = \"t1\"; device = \"pids\"; input = \"zone1_tamper\"; kind = \"tamper\"; },\n"
             "  { id = \"cab\"; device = \"pids\"; input = \"cabinet_tamper\"; kind = \"tamper\"; }\n");
    if (!fx_setup(&f, true,
                  "buses = ( { id = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; } );\n"
                  "devices = (\n"
                  "  { id = \"io\"; bus = \"lan\"; unit = 1; profile = \"din16\"; poll_ms = 1000; },\n"
                  "  { id = \"pids\"; bus = \"lan\"; unit = 2; profile = \"pids\"; poll_ms = 1000; }\n);\n"
                  "points = (\n%s);\n",
                  port, points)) {
        EXPECT(0, "setup failed");
        fx_teardown(&f);
        return;
    }
    int io = device_id(&f, "io"), pids = device_id(&f, "pids");
    struct poll_block plan[4];

    EXPECT_INT(poll_plan(f.site, io, plan, 4), 1);
    EXPECT_INT(poll_plan(f.site, pids, plan, 4), 1);
    EXPECT(fx_poll(&f), "poll_start");
    EXPECT(wait_sample(&f, 0, point_id(&f, "di16"), 3000) >= 0, "first read of io");
    EXPECT(wait_sample(&f, 0, point_id(&f, "cab"), 3000) >= 0, "first read of pids");
    EXPECT_INT(count_device_samples(&f, 0, io), 16);
    EXPECT_INT(count_device_samples(&f, 0, pids), 10);

    /* Right after a cycle's samples the bus is idle for most of a second:
     * compare the simulator's count with the poller's cycles then. */
    int mark = f.n_log;
    SIM_OK(&f, "set z3 1");
    SIM_OK(&f, "set di7 1");
    EXPECT(wait_sample(&f, mark, point_id(&f, "z3"), 3000) >= 0, "z3 arrives");
    EXPECT(wait_sample(&f, mark, point_id(&f, "di7"), 3000) >= 0, "di7 arrives");
    struct poll_device_stats s_io, s_pids;
    poll_get_stats(f.ps, io, &s_io);
    poll_get_stats(f.ps, pids, &s_pids);
    long n_io = sim_requests(&f, "io"), n_pids = sim_requests(&f, "pids");
    EXPECT(s_io.polls >= 2 && s_io.requests == s_io.polls && (uint64_t)n_io == s_io.polls,
           "io: %llu cycles, %llu requests sent, %ld received; want one request per cycle",
           (unsigned long long)s_io.polls, (unsigned long long)s_io.requests, n_io);
    EXPECT(s_pids.polls >= 2 && s_pids.requests == s_pids.polls && (uint64_t)n_pids == s_pids.polls,
           "pids: %llu cycles, %llu requests sent, %ld received; want one request per cycle",
           (unsigned long long)s_pids.polls, (unsigned long long)s_pids.requests, n_pids);
    fx_teardown(&f);
}

/*
 * Every fault mode takes the device down within its fail window, no sample
 * of it gets through while it is down, and `fail ok` brings comm up before
 * its samples.
 */
static void test_fault_modes_down_and_recovery(void)
{
    static const char *const modes[] = { "timeout", "exception", "garbage", "close" };
    struct fixture f;
    int port = free_port();

    if (!fx_setup(&f, true,
                  "buses = ( { id = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; } );\n"
                  "devices = ( { id = \"io\"; bus = \"lan\"; unit = 1; profile = \"din16\"; " DEV_FAST " } );\n"
                  "points = ( { id = \"door\"; device = \"io\"; input = \"di1\"; kind = \"door\"; zone = \"z\"; },\n"
                  "           { id = \"pir\"; device = \"io\"; input = \"di2\"; kind = \"motion\"; zone = \"z\"; } );\n",
                  port) || !fx_poll(&f)) {
        EXPECT(0, "setup failed");
        fx_teardown(&f);
        return;
    }
    int io = device_id(&f, "io"), door = point_id(&f, "door"), pir = point_id(&f, "pir");

    EXPECT(wait_sample(&f, 0, pir, 3000) >= 0, "first read");
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        int mark = f.n_log, down, up, s;
        double want = (double)((m + 1) % 2);

        SIM_OK(&f, "fail io %s", modes[m]);
        /* Window: fail_ms 2000 (3 failures take < 1 s here) plus one timeout and slack. */
        down = wait_comm(&f, mark, io, false, 3500);
        EXPECT(down >= 0, "%s: comm down within the fail window", modes[m]);
        SIM_OK(&f, "set door %g", want);
        fx_drain(&f, 800);
        EXPECT(count_device_samples(&f, down + 1, io) == 0, "%s: %d samples while down", modes[m],
               count_device_samples(&f, down + 1, io));
        mark = f.n_log;
        SIM_OK(&f, "fail io ok");
        /* Reconnect back-off is at most 5 s. */
        up = wait_comm(&f, mark, io, true, 8000);
        s = wait_sample(&f, mark, door, 8000);
        EXPECT(up >= 0 && s > up, "%s: comm up (%d) then samples (%d)", modes[m], up, s);
        EXPECT(s < 0 || near(f.log[s].u.sample.value, want), "%s: door %g after recovery", modes[m],
               s >= 0 ? f.log[s].u.sample.value : -1);
        EXPECT(wait_sample(&f, mark, pir, 1000) >= 0, "%s: every point is sent again", modes[m]);
    }
    fx_teardown(&f);
}

/* Whether the file at path holds the text want. */
static bool file_has(const char *path, const char *want)
{
    char buf[16384];
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;

    if (fp)
        fclose(fp);
    buf[n] = '\0';
    return strstr(buf, want) != NULL;
}

/*
 * A device answering as another unit id (a gateway routing to the wrong
 * slave), or with another function code, fails every poll with its own log
 * reason and goes comm_loss; the value it answered is never used. libmodbus
 * 3.1.6 alone took such TCP answers as good ones.
 */
static void test_wrong_unit_or_function_fails_the_poll(void)
{
    static const struct { const char *mode, *reason; } cases[] = {
        { "wrong-unit", "read failed: answered as unit 2, expected 1" },
        { "wrong-function", "read failed: answered with function code 0x01 to another request" },
    };
    struct fixture f;
    int port = free_port(), saved = dup(STDERR_FILENO);
    char log_path[96];

    if (!fx_setup(&f, true,
                  "buses = ( { id = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; } );\n"
                  "devices = ( { id = \"io\"; bus = \"lan\"; unit = 1; profile = \"din16\"; " DEV_FAST " } );\n"
                  "points = ( { id = \"door\"; device = \"io\"; input = \"di1\"; kind = \"door\"; zone = \"z\"; } );\n",
                  port) || !fx_poll(&f)) {
        EXPECT(0, "setup failed");
        fx_teardown(&f);
        return;
    }
    int io = device_id(&f, "io"), door = point_id(&f, "door");

    EXPECT(wait_sample(&f, 0, door, 3000) >= 0, "first read");
    snprintf(log_path, sizeof(log_path), "%s/poller.log", f.dir);
    for (size_t m = 0; m < sizeof(cases) / sizeof(cases[0]); m++) {
        int mark = f.n_log, fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        dup2(fd, STDERR_FILENO); /* the poller's log lines, for their reason */
        close(fd);
        SIM_OK(&f, "fail io %s", cases[m].mode);
        SIM_OK(&f, "set door %d", (int)(m + 1) % 2);
        EXPECT(wait_comm(&f, mark, io, false, 3500) >= 0, "%s: comm_loss within the fail window", cases[m].mode);
        fx_drain(&f, 500);
        dup2(saved, STDERR_FILENO);
        EXPECT(count_device_samples(&f, mark, io) == 0, "%s: %d values of the wrong answer used", cases[m].mode,
               count_device_samples(&f, mark, io));
        EXPECT(file_has(log_path, cases[m].reason), "%s: no \"%s\" in the log", cases[m].mode, cases[m].reason);
        mark = f.n_log;
        SIM_OK(&f, "fail io ok");
        EXPECT(wait_comm(&f, mark, io, true, 8000) >= 0, "%s: comm up again", cases[m].mode);
        int s = wait_sample(&f, mark, door, 3000);
        EXPECT(s >= 0 && near(f.log[s].u.sample.value, (double)((m + 1) % 2)), "%s: the door's value is read "
               "again from good answers", cases[m].mode);
    }
    close(saved);
    unlink(log_path);
    fx_teardown(&f);
}

/* A device that never answers goes down without ever coming up, and sends nothing. */
static void test_never_answering_device_goes_down(void)
{
    struct fixture f;
    int port = free_port();

    if (!fx_setup(&f, true,
                  "buses = ( { id = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; } );\n"
                  "devices = ( { id = \"th\"; bus = \"lan\"; unit = 1; profile = \"th-rs485\"; " DEV_FAST " } );\n"
                  "points = ( { id = \"temp\"; device = \"th\"; input = \"temperature\"; kind = \"temperature\"; } );\n",
                  port)) {
        EXPECT(0, "setup failed");
        fx_teardown(&f);
        return;
    }
    int th = device_id(&f, "th");

    SIM_OK(&f, "fail th timeout");
    EXPECT(fx_poll(&f), "poll_start");
    EXPECT(wait_comm(&f, 0, th, false, 3500) >= 0, "silent device goes down within its fail window");
    fx_drain(&f, 500);
    EXPECT_INT(f.n_log, 1);
    fx_teardown(&f);
}

/*
 * Nothing at the other end: a refused TCP connection and a serial port that
 * does not exist count as failures, so both devices go down on time.
 */
static void test_unreachable_buses_go_down(void)
{
    struct fixture f;
    int port = free_port();

    if (!fx_setup(&f, false,
                  "buses = ( { id = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; },\n"
                  "          { id = \"rs485\"; type = \"rtu\"; device = \"@DIR@/missing-tty\"; } );\n"
                  "devices = ( { id = \"th\"; bus = \"lan\"; unit = 1; profile = \"th-rs485\"; " DEV_FAST " },\n"
                  "            { id = \"th2\"; bus = \"rs485\"; unit = 1; profile = \"th-rs485\"; " DEV_FAST " } );\n"
                  "points = ( { id = \"temp\"; device = \"th\"; input = \"temperature\"; kind = \"temperature\"; },\n"
                  "           { id = \"temp2\"; device = \"th2\"; input = \"temperature\"; kind = \"temperature\"; } );\n",
                  port) || !fx_poll(&f)) {
        EXPECT(0, "setup failed");
        fx_teardown(&f);
        return;
    }
    EXPECT(wait_comm(&f, 0, device_id(&f, "th"), false, 3500) >= 0, "refused connection: comm down in time");
    EXPECT(wait_comm(&f, 0, device_id(&f, "th2"), false, 3500) >= 0, "missing serial port: comm down in time");
    fx_drain(&f, 500);
    EXPECT_INT(f.n_log, 2);
    fx_teardown(&f);
}

/* Waits until the simulator's request count for device exceeds `than`; returns it. */
static long wait_requests_above(struct fixture *f, const char *device, long than, int timeout_ms)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
    long n;

    while ((n = sim_requests(f, device)) <= than && clock_mono_ms() < deadline)
        sleep_ms(20);
    return n;
}

/* Sets a point and returns how long its sample took to arrive, in ms (-1: never). */
static long set_and_time(struct fixture *f, const char *point_name, double value)
{
    int mark = f->n_log, s;
    uint64_t t0 = clock_mono_ms();

    if (strcmp(sim_cmd(f, "set %s %g", point_name, value), "ok") != 0)
        return -1;
    s = wait_sample(f, mark, point_id(f, point_name), 6000);
    if (s < 0 || !near(f->log[s].u.sample.value, value))
        return -1;
    return (long)(clock_mono_ms() - t0);
}

/*
 * Two units on one TCP bus; "dead" stops answering with a 3 s timeout. Once
 * it is down, the healthy unit's changes still arrive well under one dead
 * timeout: a second after it went down, and a second after a quarantine
 * probe. Without quarantine the dead unit would be retried half a second
 * after each timeout and a change made then would wait out most of the next.
 */
static void test_dead_unit_does_not_freeze_shared_bus(void)
{
    struct fixture f;
    int port = free_port();

    if (!fx_setup(&f, true,
                  "buses = ( { id = \"gw\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; } );\n"
                  "devices = ( { id = \"ok\"; bus = \"gw\"; unit = 1; profile = \"din16\"; " DEV_FAST " },\n"
                  "            { id = \"dead\"; bus = \"gw\"; unit = 2; profile = \"din16\"; poll_ms = 500;"
                  " timeout_ms = 3000; fail_count = 1; } );\n"
                  "points = ( { id = \"door\"; device = \"ok\"; input = \"di1\"; kind = \"door\"; zone = \"z\"; },\n"
                  "           { id = \"door2\"; device = \"dead\"; input = \"di1\"; kind = \"door\"; zone = \"z\"; } );\n",
                  port) || !fx_poll(&f)) {
        EXPECT(0, "setup failed");
        fx_teardown(&f);
        return;
    }
    int dead = device_id(&f, "dead");

    EXPECT(wait_sample(&f, 0, point_id(&f, "door"), 3000) >= 0, "first read of ok");
    EXPECT(wait_sample(&f, 0, point_id(&f, "door2"), 3000) >= 0, "first read of dead");
    SIM_OK(&f, "fail dead timeout");
    EXPECT(wait_comm(&f, 0, dead, false, 8000) >= 0, "dead unit goes down");

    /* A second after it went down: unquarantined, it would be half a second
     * into its next 3 s timeout by now. */
    fx_drain(&f, 1000);
    long ms = set_and_time(&f, "door", 1);
    EXPECT(ms >= 0 && ms < 2000, "healthy unit a second after the dead one went down: %ld ms", ms);

    /* The same a second after a quarantine probe ended (the healthy unit is read again). */
    long probes = sim_requests(&f, "dead");
    EXPECT(wait_requests_above(&f, "dead", probes, 15000) > probes, "dead unit is still probed");
    long healthy = sim_requests(&f, "ok");
    EXPECT(wait_requests_above(&f, "ok", healthy, 5000) > healthy, "healthy unit read after the probe");
    fx_drain(&f, 1000);
    ms = set_and_time(&f, "door", 0);
    EXPECT(ms >= 0 && ms < 2000, "healthy unit a second after a probe: %ld ms", ms);
    fx_teardown(&f);
}

/* On separate buses a dead device's timeouts cannot hold up another bus at all. */
static void test_dead_device_on_other_bus(void)
{
    struct fixture f;
    int port = free_port(), port2 = free_port();

    if (!fx_setup(&f, true,
                  "buses = ( { id = \"a\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; },\n"
                  "          { id = \"b\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; } );\n"
                  "devices = ( { id = \"ok\"; bus = \"a\"; unit = 1; profile = \"din16\"; " DEV_FAST " },\n"
                  "            { id = \"dead\"; bus = \"b\"; unit = 1; profile = \"din16\"; poll_ms = 100;"
                  " timeout_ms = 3000; } );\n"
                  "points = ( { id = \"door\"; device = \"ok\"; input = \"di1\"; kind = \"door\"; zone = \"z\"; },\n"
                  "           { id = \"door2\"; device = \"dead\"; input = \"di1\"; kind = \"door\"; zone = \"z\"; } );\n",
                  port, port2) || !fx_poll(&f)) {
        EXPECT(0, "setup failed");
        fx_teardown(&f);
        return;
    }
    EXPECT(wait_sample(&f, 0, point_id(&f, "door"), 3000) >= 0, "first read of ok");
    EXPECT(wait_sample(&f, 0, point_id(&f, "door2"), 3000) >= 0, "first read of dead");
    SIM_OK(&f, "fail dead timeout");
    /* Catch the dead bus in the middle of a 3 s timeout. */
    long n = sim_requests(&f, "dead");
    EXPECT(wait_requests_above(&f, "dead", n, 5000) > n, "dead device is being polled");
    long ms = set_and_time(&f, "door", 1);
    EXPECT(ms >= 0 && ms < 2000, "device on another bus: %ld ms", ms);
    fx_teardown(&f);
}

/* Polls of site device `device` so far, from the poller's own counters. */
static long polls_of(struct fixture *f, const char *device)
{
    struct poll_device_stats st;

    poll_get_stats(f->ps, device_id(f, device), &st);
    return (long)st.polls;
}

/*
 * Every TCP bus is served by one event loop, so this is what keeps a
 * misbehaving device from holding up the rest: while one device never
 * answers (each of its requests waits out a 1.5 s timeout), another drops
 * every connection and a third answers every request 250 ms late (within
 * its timeout: it stays up, its values still arrive), three healthy devices
 * on their own connections keep their 100 ms poll - over two seconds each
 * is polled at least half as often as its interval allows - and a change on
 * each still arrives within a few polls.
 */
static void test_misbehaving_devices_do_not_delay_others(void)
{
    static const char *const healthy[] = { "ok1", "ok2", "ok3" };
    struct fixture f;
    struct poll_device_stats st;
    int p[6];

    for (int i = 0; i < 6; i++)
        p[i] = free_port();
    if (!fx_setup(&f, true,
                  "buses = ( { id = \"a\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; },\n"
                  "          { id = \"b\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; },\n"
                  "          { id = \"c\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; },\n"
                  "          { id = \"d\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; },\n"
                  "          { id = \"e\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; },\n"
                  "          { id = \"f\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; } );\n"
                  "devices = ( { id = \"ok1\"; bus = \"a\"; unit = 1; profile = \"din16\"; " DEV_FAST " },\n"
                  "            { id = \"ok2\"; bus = \"b\"; unit = 1; profile = \"din16\"; " DEV_FAST " },\n"
                  "            { id = \"ok3\"; bus = \"c\"; unit = 1; profile = \"din16\"; " DEV_FAST " },\n"
                  "            { id = \"dead\"; bus = \"d\"; unit = 1; profile = \"din16\"; poll_ms = 100;"
                  " timeout_ms = 1500; },\n"
                  "            { id = \"drop\"; bus = \"e\"; unit = 1; profile = \"din16\"; " DEV_FAST " },\n"
                  "            { id = \"slow\"; bus = \"f\"; unit = 1; profile = \"din16\"; poll_ms = 100;"
                  " timeout_ms = 1000; } );\n"
                  "points = ( { id = \"ok1_door\"; device = \"ok1\"; input = \"di1\"; kind = \"door\"; zone = \"z\"; },\n"
                  "           { id = \"ok2_door\"; device = \"ok2\"; input = \"di1\"; kind = \"door\"; zone = \"z\"; },\n"
                  "           { id = \"ok3_door\"; device = \"ok3\"; input = \"di1\"; kind = \"door\"; zone = \"z\"; },\n"
                  "           { id = \"dead_door\"; device = \"dead\"; input = \"di1\"; kind = \"door\"; zone = \"z\"; },\n"
                  "           { id = \"drop_door\"; device = \"drop\"; input = \"di1\"; kind = \"door\"; zone = \"z\"; },\n"
                  "           { id = \"slow_door\"; device = \"slow\"; input = \"di1\"; kind = \"door\"; zone = \"z\"; } );\n",
                  p[0], p[1], p[2], p[3], p[4], p[5]) || !fx_poll(&f)) {
        EXPECT(0, "setup failed");
        fx_teardown(&f);
        return;
    }
    EXPECT(wait_sample(&f, 0, point_id(&f, "dead_door"), 3000) >= 0, "first read of dead");
    EXPECT(wait_sample(&f, 0, point_id(&f, "drop_door"), 3000) >= 0, "first read of drop");
    SIM_OK(&f, "fail dead timeout");
    SIM_OK(&f, "fail drop close");
    SIM_OK(&f, "fail slow slow");
    EXPECT(wait_comm(&f, 0, device_id(&f, "dead"), false, 8000) >= 0, "the silent device goes down");
    EXPECT(wait_comm(&f, 0, device_id(&f, "drop"), false, 8000) >= 0, "the dropping device goes down");

    long before[3];
    for (int i = 0; i < 3; i++)
        before[i] = polls_of(&f, healthy[i]);
    fx_drain(&f, 2000);
    for (int i = 0; i < 3; i++) {
        long polls = polls_of(&f, healthy[i]) - before[i];
        char point[16];

        EXPECT(polls >= 10, "%s polled %ld times in 2 s at 100 ms beside the misbehaving ones", healthy[i], polls);
        snprintf(point, sizeof(point), "%s_door", healthy[i]);
        long ms = set_and_time(&f, point, 1);
        EXPECT(ms >= 0 && ms < 1000, "%s: a change arrives in %ld ms while the others misbehave", healthy[i], ms);
    }
    poll_get_stats(f.ps, device_id(&f, "slow"), &st);
    EXPECT(st.up && st.last_rtt_ms >= 200, "the slow device is up (%d), its last cycle took %u ms", st.up,
           (unsigned)st.last_rtt_ms);
    long ms = set_and_time(&f, "slow_door", 1);
    EXPECT(ms >= 0, "a change on the slow device arrives too (%ld ms)", ms);
    fx_teardown(&f);
}

/*
 * RTU over a pseudo-terminal: two units on one line, values decoded and
 * scaled; every request waits out the inter-frame gap; a unit answering
 * with bad CRCs goes down while the other goes on.
 */
static void test_rtu_over_pty(void)
{
    struct fixture f;

    if (!fx_setup(&f, true,
                  "buses = ( { id = \"rs485\"; type = \"rtu\"; device = \"@DIR@/tty0\"; baud = 19200;"
                  " parity = \"E\"; } );\n"
                  "devices = ( { id = \"th1\"; bus = \"rs485\"; unit = 5; profile = \"th-rs485\"; " DEV_FAST " },\n"
                  "            { id = \"th2\"; bus = \"rs485\"; unit = 6; profile = \"th-rs485\"; " DEV_FAST " } );\n"
                  "points = ( { id = \"t1\"; device = \"th1\"; input = \"temperature\"; kind = \"temperature\"; },\n"
                  "           { id = \"t2\"; device = \"th2\"; input = \"temperature\"; kind = \"temperature\"; },\n"
                  "           { id = \"h2\"; device = \"th2\"; input = \"humidity\"; kind = \"humidity\"; } );\n")) {
        EXPECT(0, "setup failed");
        fx_teardown(&f);
        return;
    }
    SIM_OK(&f, "set t1 -12.5");
    SIM_OK(&f, "set t2 33.3");
    SIM_OK(&f, "set h2 45.6");
    EXPECT(fx_poll(&f), "poll_start");
    int t1 = point_id(&f, "t1"), t2 = point_id(&f, "t2"), h2 = point_id(&f, "h2");
    int th1 = device_id(&f, "th1");
    int i1 = wait_sample(&f, 0, t1, 3000), i2 = wait_sample(&f, 0, t2, 3000), i3 = wait_sample(&f, 0, h2, 3000);

    EXPECT(i1 >= 0 && near(f.log[i1].u.sample.value, -12.5), "t1 first read");
    EXPECT(i2 >= 0 && near(f.log[i2].u.sample.value, 33.3), "t2 first read");
    EXPECT(i3 >= 0 && near(f.log[i3].u.sample.value, 45.6), "h2 first read");
    long ms = set_and_time(&f, "t1", 20.1);
    EXPECT(ms >= 0, "a set on the RTU line arrives");
    /* Modbus over serial line 2.5.1.1: a frame starts only after 3.5
     * characters of silence, or the units take it for the tail of the last
     * answer. The simulator's line (--wire-time) counts the ones that did not. */
    long requests = -1, early = -1;
    EXPECT(wait_requests_above(&f, "th2", 5, 3000) > 5, "the line is polled");
    EXPECT(sscanf(sim_cmd(&f, "line rs485"), "ok requests=%ld early=%ld", &requests, &early) == 2 &&
               requests > 4 && early == 0,
           "every request waits out the line's 3.5-character gap (%ld of %ld did not)", early, requests);

    int mark = f.n_log;
    SIM_OK(&f, "fail th1 garbage");
    EXPECT(wait_comm(&f, mark, th1, false, 3500) >= 0, "bad CRC answers take the unit down");
    EXPECT(set_and_time(&f, "t2", -5.5) >= 0, "the other unit on the line goes on");
    mark = f.n_log;
    SIM_OK(&f, "fail th1 ok");
    EXPECT(wait_comm(&f, mark, th1, true, 35000) >= 0, "unit comes back after quarantine");
    EXPECT(wait_sample(&f, mark, t1, 3000) >= 0, "and its samples follow");
    fx_teardown(&f);
}

/* Runs a case unless a name filter was given on the command line and it does not match. */
#define RUN_IF(filter, fn)                                                      \
    do {                                                                       \
        if (!(filter) || strstr(#fn, (filter)))                                \
            RUN(fn);                                                           \
    } while (0)

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;

    signal(SIGPIPE, SIG_IGN);
    atexit(kill_live_sim);
    RUN_IF(only, test_plan_merges_into_fewest_requests);
    RUN_IF(only, test_plan_tables_and_unused_inputs);
    RUN_IF(only, test_plan_keeps_32bit_values_whole);
    RUN_IF(only, test_first_read_then_only_changes);
    RUN_IF(only, test_report_deadband_never_hides_a_limit);
    RUN_IF(only, test_coalescing_on_the_wire);
    RUN_IF(only, test_fault_modes_down_and_recovery);
    RUN_IF(only, test_wrong_unit_or_function_fails_the_poll);
    RUN_IF(only, test_never_answering_device_goes_down);
    RUN_IF(only, test_unreachable_buses_go_down);
    RUN_IF(only, test_dead_unit_does_not_freeze_shared_bus);
    RUN_IF(only, test_dead_device_on_other_bus);
    RUN_IF(only, test_misbehaving_devices_do_not_delay_others);
    RUN_IF(only, test_rtu_over_pty);
    HARNESS_EXIT();
}
