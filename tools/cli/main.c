/* dadfi: protect face photos against deepfake editing; train and evaluate the networks. */
#include <string.h>

#include "cli.h"

static const cli_command commands[] = {
    {"protect", "add a hard-to-see perturbation that breaks deepfake models (Gen, fast)", cmd_protect},
    {"detect", "find faces in photos (BlazeFace): boxes, scores, six keypoints", cmd_detect},
    {"gen-init", "write a randomly initialised Gen weight file (tests, training start)", cmd_gen_init},
    {"info", "show a weight file's metadata, tensors, parameters and FLOPs", cmd_info},
    {"zoo-train", "train a deepfake model of the zoo (StarGAN-, AttGAN-style, ...)", cmd_zoo_train},
    {"deepfake", "run a zoo deepfake model on an image (edit attributes)", cmd_deepfake},
    {"train-gen", "train the protector Gen against zoo models (DADFI: paper or ours recipe)", cmd_train_gen},
    {"pgd", "protect one image by per-image PGD against zoo models (slow baseline)", cmd_pgd},
    {"train-universal", "compute a universal (CMUA-style) perturbation against zoo models", cmd_train_universal},
    {"eval", "measure protectors against zoo models (the paper's metrics, JSON)", cmd_eval},
    {"attr-train", "train the attribute classifier that judges the zoo's edits (real faces only)", cmd_attr_train},
    {"zoo-quality", "check zoo models against the quality bar (edit accuracy, reconstruction, mask)", cmd_zoo_quality},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f,
            "dadfi - destructive active defense for face images (DADFI)\n\n"
            "usage: dadfi COMMAND [OPTIONS] ...\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n`dadfi COMMAND --help` explains a command.\n"
            "Pixels are handled on the [-1, 1] scale: --eps 0.05 means at most 6.4/255 change per channel.\n"
            "Environment: DF_THREADS=N threads (default: all cores), DF_ISA=scalar|avx2|avx512 forces a kernel set.\n"
            "Exit codes: 0 ok, 1 runtime error, 2 usage error.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("dadfi 0.1.0 (%s kernels)\n", df_isa_name(df_isa_active()));
        return EXIT_OK;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "dadfi: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
