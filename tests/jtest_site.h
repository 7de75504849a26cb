/*
 * jtest_site.h - the small site of the journal tests: one profile "jio"
 * and a site "jtest" of two devices, two zones and four points. Shared by
 * tests/test_journal.c and the fuzz targets (tests/fuzz/), whose journal
 * seeds were written under this site.
 */
#ifndef VIGIL_JTEST_SITE_H
#define VIGIL_JTEST_SITE_H

static const char jtest_profile_text[] =
    "profile = {\n"
    "  name = \"jio\";\n"
    "  inputs = (\n"
    "    { name = \"di\"; table = \"discrete\"; address = 0; count = 4; },\n"
    "    { name = \"temp\"; table = \"input\"; address = 0; format = \"s16\"; scale = 0.1; }\n"
    "  );\n"
    "};\n";

/* %s: the high temperature threshold, so a second config can differ. */
static const char jtest_site_fmt[] =
    "site = { id = \"jtest\"; name = \"Journal test\"; profile_dir = \".\"; };\n"
    "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; } ); };\n"
    "buses = ( { id = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; } );\n"
    "devices = ( { id = \"io\"; bus = \"lan\"; unit = 1; profile = \"jio\"; },\n"
    "            { id = \"io2\"; bus = \"lan\"; unit = 2; profile = \"jio\"; } );\n"
    "zones = ( { id = \"store\"; armed = true; }, { id = \"always\"; always_armed = true; } );\n"
    "points = (\n"
    "  { id = \"door\"; device = \"io\"; input = \"di1\"; kind = \"door\"; zone = \"store\"; held_open_s = 5; },\n"
    "  { id = \"pir\"; device = \"io\"; input = \"di2\"; kind = \"motion\"; zone = \"store\"; },\n"
    "  { id = \"tamper\"; device = \"io\"; input = \"di3\"; kind = \"tamper\"; zone = \"always\"; },\n"
    "  { id = \"temp\"; device = \"io2\"; input = \"temp\"; kind = \"temperature\"; zone = \"store\";\n"
    "    high = %s; low = 5.0; }\n"
    ");\n";

#endif
