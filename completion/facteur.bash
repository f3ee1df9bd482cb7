# bash completion for facteur(1): commands, their options, and files.
# Installed as share/bash-completion/completions/facteur.

_facteur()
{
	local cur prev words cword cmd opts i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	cword=$COMP_CWORD
	COMPREPLY=()

	local commands="run check test parse deliver state help"
	if [ "$cword" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
		return 0
	fi
	cmd=${COMP_WORDS[1]}

	case $prev in
	-c|--config|-r|--rules|--expect)
		# YAML files and directories (without needing extglob).
		while IFS= read -r i; do
			case $i in
			*.yaml|*.yml) COMPREPLY+=("$i") ;;
			*) [ -d "$i" ] && COMPREPLY+=("$i") ;;
			esac
		done < <(compgen -f -- "$cur")
		compopt -o filenames 2>/dev/null
		return 0
		;;
	--log)
		COMPREPLY=($(compgen -W "text json" -- "$cur"))
		return 0
		;;
	-a|--account)
		# Account names are not listed: the config is not read here.
		return 0
		;;
	esac

	case $cmd in
	run)	opts="--config --once --log --syslog --verbose --help" ;;
	check)	opts="--config --rules --help" ;;
	test)	opts="--rules --config --account --expect --json --help" ;;
	parse)	opts="--json --help" ;;
	deliver) opts="--config --account --log --syslog --verbose --help" ;;
	state)	opts="--config --json --account --mailbox --limit --yes --help" ;;
	help)
		if [ "$cword" -eq 2 ]; then
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return 0
		;;
	*)	return 0 ;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return 0
	fi
	case $cmd in
	state)
		# The first word that is not an option or its argument.
		for ((i = 2; i < cword; i++)); do
			case ${COMP_WORDS[i]} in
			-c|--config|--account|--mailbox|--limit) i=$((i + 1)) ;;
			-*) ;;
			*) return 0 ;;
			esac
		done
		COMPREPLY=($(compgen -W "list pending failed accounts show retry forget" \
		    -- "$cur"))
		;;
	test|parse)
		COMPREPLY=($(compgen -f -- "$cur"))
		compopt -o filenames 2>/dev/null
		;;
	esac
	return 0
}
complete -F _facteur facteur
