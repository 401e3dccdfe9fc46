# shellcheck shell=sh
# conda.sh of the cpkgs test-bed conda stand-in (a test fixture on py-rattler, not conda).
# Source it (". PREFIX/etc/profile.d/conda.sh"); it defines the shell function "conda" the way real conda's
# conda.sh does: "conda activate|deactivate" eval what "$CONDA_EXE shell.posix ..." prints, install/update/
# remove reactivate afterwards, anything else runs "$CONDA_EXE". The installer fills in the paths below.
# shellcheck disable=SC3043  # "local": bash, zsh, dash, ksh and busybox sh have it, as real conda.sh assumes

export CONDA_EXE='@CONDA_EXE@'
export _CE_M=''
export _CE_CONDA=''
export CONDA_PYTHON_EXE='@CONDA_PYTHON_EXE@'

__conda_exe() (
    if [ -n "${_CE_M:+x}" ] && [ -n "${_CE_CONDA:+x}" ]; then
        # only in conda's dev mode ("python -m conda"); kept for parity with real conda.sh
        "$CONDA_EXE" "$_CE_M" "$_CE_CONDA" "$@"
    else
        "$CONDA_EXE" "$@"
    fi
)

__conda_hashr() {
    if [ -n "${ZSH_VERSION:+x}" ]; then
        \rehash
    elif [ -n "${POSH_VERSION:+x}" ]; then
        :  # pass
    else
        \hash -r
    fi
}

__conda_activate() {
    if [ -n "${CONDA_PS1_BACKUP:+x}" ]; then
        # Handle transition from shell activated with conda <= 4.3 to a subsequent activation
        PS1="$CONDA_PS1_BACKUP"
        \unset CONDA_PS1_BACKUP
    fi
    \local ask_conda
    ask_conda="$(PS1="${PS1:-}" __conda_exe shell.posix "$@")" || \return
    \eval "$ask_conda"
    __conda_hashr
}

__conda_reactivate() {
    \local ask_conda
    ask_conda="$(PS1="${PS1:-}" __conda_exe shell.posix reactivate)" || \return
    \eval "$ask_conda"
    __conda_hashr
}

conda() {
    \local cmd="${1-__missing__}"
    case "$cmd" in
        activate|deactivate)
            __conda_activate "$@"
            ;;
        install|update|upgrade|remove|uninstall)
            __conda_exe "$@" || \return
            __conda_reactivate
            ;;
        *)
            __conda_exe "$@"
            ;;
    esac
}

if [ -z "${CONDA_SHLVL+x}" ]; then
    \export CONDA_SHLVL=0
    # shellcheck disable=SC2123  # PATH is meant
    PATH="$(\dirname "$(\dirname "$CONDA_EXE")")/condabin${PATH:+":${PATH}"}"
    \export PATH

    # PS1 must at least be set (not exported: a second shell started from this one sets its own).
    if [ -z "${PS1+x}" ]; then
        PS1=
    fi
fi
