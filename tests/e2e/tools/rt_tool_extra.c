#include <stdio.h>
int rt_tool_eval(int argc, char **argv);
int rt_tool_quantize(int argc, char **argv);
int rt_tool_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}
int rt_tool_quantize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}
