/*
 * test_retained.c - the retained tree the MQTT sink keeps to publish again
 * after a broker lost it (mqtt_retained.h): every topic that needs
 * attention comes back with its last payload, and alarms that came and
 * went do not take room from those that came later.
 */
#include <stdio.h>
#include <string.h>

#include "core_fixture.h"
#include "harness.h"
#include "mqtt_retained.h"

struct seen {
    char text[4096];
    int n;
};

static void collect(void *ctx, const char *suffix, const char *json, size_t len)
{
    struct seen *s = ctx;
    size_t used = strlen(s->text);

    snprintf(s->text + used, sizeof(s->text) - used, "%s=%.*s;", suffix, (int)len, json);
    s->n++;
}

/* A site of one device and two doors has room for 2 x 5 point alarms, the
 * device, the system alarms, and the one extra asked for. */
static struct cfg_site *small_site(void)
{
    struct cfg_site *s = fixture_site("depot");
    int d = fixture_add_device(s, "io");

    fixture_add_point(s, "door1", CFG_KIND_DOOR, d, -1);
    fixture_add_point(s, "door2", CFG_KIND_DOOR, d, -1);
    return s;
}

/* Alarms raised and cleared many times, one after the other: an emptied
 * entry gives its payload room to the next alarm raised, and every topic
 * still needing attention comes back with its own last payload. */
static void cleared_alarms_give_room_back(void)
{
    static const char *const suffixes[] = {"alarms/door1.intrusion", "alarms/door2.intrusion",
                                           "alarms/door1.chattering"};
    struct cfg_site *site = small_site();
    struct retained *t = retained_new(site, 1);
    char json[32];
    struct seen seen = {"", 0};

    for (int round = 0; round < 300; round++) {
        const char *raise = suffixes[round % 3], *clear = suffixes[(round + 1) % 3];
        snprintf(json, sizeof(json), "{\"round\":%d}", round);
        EXPECT(retained_set(t, raise, json, strlen(json)), "round %d: no room", round);
        EXPECT(retained_set(t, clear, "", 0), "round %d: cannot empty", round);
    }
    EXPECT(retained_set(t, "devices/io", "{\"up\":true}", 11), "the device has no room");
    EXPECT_INT(retained_live(t), 3);
    retained_each(t, collect, &seen);
    EXPECT_STR(seen.text, "alarms/door2.intrusion={\"round\":298};alarms/door1.chattering={\"round\":299};"
               "devices/io={\"up\":true};");
    retained_free(t);
    fixture_free(site);
}

int main(void)
{
    RUN(cleared_alarms_give_room_back);
    HARNESS_EXIT();
}
