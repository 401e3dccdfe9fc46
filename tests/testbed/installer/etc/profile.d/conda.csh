# conda.csh of the cpkgs test-bed conda stand-in (a test fixture on py-rattler, not conda).
# "source PREFIX/etc/profile.d/conda.csh" in ~/.cshrc or ~/.tcshrc. Like real conda's conda.csh it defines
# "conda" as an alias that sources this file again with the arguments: "conda activate|deactivate" eval what
# "$_CONDA_EXE shell.csh ..." prints, install/update/remove reactivate afterwards, anything else runs the CLI.
# The installer fills in the paths below.

setenv CONDA_EXE '@CONDA_EXE@'
setenv _CONDA_ROOT '@PREFIX@'
setenv _CONDA_EXE '@CONDA_EXE@'
setenv CONDA_PYTHON_EXE '@CONDA_PYTHON_EXE@'
set _conda_status=0

if ("`alias conda`" == "") then
    alias conda source '@PREFIX@/etc/profile.d/conda.csh'
    if (! $?CONDA_SHLVL) then
        setenv CONDA_SHLVL 0
    endif
    if (! $?prompt) then
        set prompt=""
    endif
else if ($#argv == 0) then
    "$_CONDA_EXE"
    set _conda_status=$status
else
    switch ("$1")
        case "activate":
        case "deactivate":
            set _conda_ask="`(setenv prompt '${prompt}' ; '${_CONDA_EXE}' shell.csh $argv:q)`"
            set _conda_status=$status
            if ($_conda_status == 0) then
                eval "${_conda_ask}"
                rehash
            endif
            unset _conda_ask
            breaksw
        case "install":
        case "update":
        case "upgrade":
        case "uninstall":
        case "remove":
            "$_CONDA_EXE" $argv:q
            set _conda_status=$status
            if ($_conda_status == 0) then
                set _conda_ask="`(setenv prompt '${prompt}' ; '${_CONDA_EXE}' shell.csh reactivate)`"
                set _conda_status=$status
                if ($_conda_status == 0) then
                    eval "${_conda_ask}"
                    rehash
                endif
                unset _conda_ask
            endif
            breaksw
        default:
            "$_CONDA_EXE" $argv:q
            set _conda_status=$status
            breaksw
    endsw
endif
# Leave with the CLI's exit status: "exit" here would end the user's shell, and "endif" resets $status, so
# this must stay the last line.
eval "unset _conda_status; test $_conda_status = 0"
