/*
 * main.c - the vigild program: vigild_main() (vigild.c) with the built-in
 * sinks only.
 */
#include <stddef.h>

#include "vigild.h"

int main(int argc, char **argv)
{
    return vigild_main(argc, argv, NULL, 0);
}
